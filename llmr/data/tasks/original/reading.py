"""Reading comprehension: BoolQ, MultiRC, OpenBookQA, SQuAD v1."""

from __future__ import annotations

from llmr.data.tasks.original.base import (
    YES_NO,
    Converted,
    Row,
    classification,
    generation,
    letter,
    multiple_choice,
)


def _boolq(row: Row) -> dict[str, str]:
    return {"text": str(row["passage"]), "question": str(row["question"])}


def _multirc(row: Row) -> dict[str, str]:
    return {
        k: str(row[c])
        for k, c in (("paragraph", "paragraph"), ("question", "question"), ("response", "answer"))
    }


def _openbookqa(row: Row) -> Converted | None:
    return Converted(
        {"fact": str(row["fact1"]), "question": str(row["question_stem"])},
        [letter(row["answerKey"])],
        [str(t) for t in row["choices"]["text"]],
    )


def _squad(row: Row) -> Converted | None:
    fields = {
        "title": str(row["title"]).replace("_", " "),
        "context": str(row["context"]),
        "question": str(row["question"]),
    }
    return Converted(fields, [str(a) for a in row["answers"]["text"]])


DEFINITIONS = [
    classification(
        "boolq", "aps/super_glue", "boolq", "train", "validation", YES_NO, "reading", _boolq
    ),
    # the paper's code reports F1 of "Yes" for MultiRC; llmr reports accuracy with that F1
    classification(
        "multirc",
        "aps/super_glue",
        "multirc",
        "train",
        "validation",
        YES_NO,
        "reading",
        _multirc,
        metric="f1_acc",
        paper_metric="f1",
    ),
    multiple_choice(
        "openbookqa", "allenai/openbookqa", "additional", "train", "test", "reading", _openbookqa
    ),
    generation(
        "squad_v1",
        "rajpurkar/squad",
        None,
        "train",
        "validation",
        "reading",
        _squad,
        metric="exact_match",
        paper_metric="squad",
    ),
]
