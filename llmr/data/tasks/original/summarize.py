"""Summarisation and topic: AESLC, AG News, Gigaword."""

from __future__ import annotations

from llmr.data.tasks.original.base import (
    Converted,
    Row,
    classification,
    generation,
    squash,
    text_fields,
)

AG_NEWS = ("World", "Sports", "Business", "Technology")


def _aeslc(row: Row) -> Converted | None:
    body, subject = squash(row["email_body"]), squash(row["subject_line"])
    if not (0 < len(body.split()) <= 256 and 0 < len(subject.split()) <= 256):
        return None
    return Converted({"body": body}, [subject])


def _gigaword(row: Row) -> Converted | None:
    text, summary = str(row["document"]), str(row["summary"])
    if "UNK" in text + summary or "#" in text + summary:  # masked tokens and digits
        return None
    return Converted({"text": text}, [summary])


DEFINITIONS = [
    generation("aeslc", "Yale-LILY/aeslc", None, "train", "test", "summarize", _aeslc),
    classification(
        "ag_news",
        "fancyzhx/ag_news",
        None,
        "train",
        "test",
        AG_NEWS,
        "summarize",
        text_fields("text"),
    ),
    generation("gigaword", "Harvard/gigaword", None, "train", "test", "summarize", _gigaword),
]
