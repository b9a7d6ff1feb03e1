"""Closed-book QA: Natural Questions (open), ARC-Challenge, ARC-Easy."""

from __future__ import annotations

from llmr.data.tasks.original.base import Converted, Row, generation, letter, multiple_choice


def _nq(row: Row) -> Converted | None:
    return Converted({"question": f"{row['question']}?"}, [str(a) for a in row["answer"]])


def _arc(row: Row) -> Converted | None:
    options = [str(t) for t in row["choices"]["text"]]
    if len(options) != 4:  # a few questions have 3 or 5 options; the paper keeps 4-way ones
        return None
    key = str(row["answerKey"]).strip()
    answer = key if key in ("A", "B", "C", "D") else letter(int(key) - 1)
    return Converted({"question": str(row["question"])}, [answer], options)


DEFINITIONS = [
    generation(
        "natural_questions",
        "google-research-datasets/nq_open",
        None,
        "train",
        "validation",
        "close_qa",
        _nq,
        metric="exact_match",
        paper_metric="trivia_qa",
    ),
    multiple_choice(
        "arc_c",
        "allenai/ai2_arc",
        "ARC-Challenge",
        "train",
        "test",
        "close_qa",
        _arc,
        templates="arc",
    ),
    multiple_choice(
        "arc_e", "allenai/ai2_arc", "ARC-Easy", "train", "test", "close_qa", _arc, templates="arc"
    ),
]
