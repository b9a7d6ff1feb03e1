"""Commonsense reasoning: COPA, PIQA, HellaSwag."""

from __future__ import annotations

from llmr.data.tasks.original.base import Converted, Row, drop_brackets, letter, multiple_choice


def _copa(row: Row) -> Converted | None:
    # question is "cause" or "effect"
    return Converted(
        {"premise": str(row["premise"]), "question": str(row["question"])},
        [letter(row["label"])],
        [str(row["choice1"]), str(row["choice2"])],
    )


def _piqa(row: Row) -> Converted | None:
    return Converted(
        {"goal": str(row["goal"])}, [letter(row["label"])], [str(row["sol1"]), str(row["sol2"])]
    )


def _hellaswag(row: Row) -> Converted | None:
    context = drop_brackets(str(row["ctx"])).strip()
    options = [drop_brackets(str(e)) for e in row["endings"]]
    return Converted({"context": context}, [letter(row["label"])], options)


DEFINITIONS = [
    multiple_choice(
        "copa", "aps/super_glue", "copa", "train", "validation", "common_reason", _copa
    ),
    multiple_choice("piqa", "ybisk/piqa", None, "train", "validation", "common_reason", _piqa),
    multiple_choice(
        "hellaswag", "Rowan/hellaswag", None, "train", "validation", "common_reason", _hellaswag
    ),
]
