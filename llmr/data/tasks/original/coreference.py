"""Coreference: Winogrande (XL), WSC (SuperGLUE), WSC273 (test only)."""

from __future__ import annotations

from llmr.data.tasks.original.base import (
    YES_NO,
    Converted,
    Row,
    classification,
    letter,
    multiple_choice,
)


def _winogrande(row: Row) -> Converted | None:
    sentence = str(row["sentence"])
    cut = sentence.index("_")
    rest = sentence[cut + 1 :]
    options = [str(row["option1"]) + rest, str(row["option2"]) + rest]
    return Converted({"context": sentence[:cut].strip()}, [letter(int(row["answer"]) - 1)], options)


def _wsc(row: Row) -> dict[str, str]:
    return {
        "context": str(row["text"]),
        "text1": str(row["span1_text"]),
        "text2": str(row["span2_text"]),
    }


def _wsc273(row: Row) -> Converted | None:
    text, loc = str(row["text"]), int(row["pronoun_loc"])
    rest = text[loc + len(str(row["pronoun"])) :]
    options = [str(o) + rest for o in row["options"]]
    return Converted({"context": text[:loc]}, [letter(row["label"])], options)


DEFINITIONS = [
    multiple_choice(
        "winogrande",
        "allenai/winogrande",
        "winogrande_xl",
        "train",
        "validation",
        "coreference",
        _winogrande,
    ),
    classification(
        "wsc", "aps/super_glue", "wsc", "train", "validation", YES_NO, "coreference", _wsc
    ),
    multiple_choice(
        "wsc273", "ErnestSDavis/winograd_wsc", "wsc273", None, "test", "coreference", _wsc273
    ),
]
