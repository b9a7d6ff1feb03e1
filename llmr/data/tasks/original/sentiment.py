"""Sentiment: SST-2, Yelp polarity, Sentiment140 (two classes)."""

from __future__ import annotations

import re
from dataclasses import replace

from llmr.data.tasks.original.base import (
    SENTIMENT,
    Converted,
    Row,
    TaskDef,
    classification,
    text_fields,
)


def _yelp(row: Row) -> Converted | None:
    # the hub text keeps escaped quotes and escaped paragraph breaks as literal backslashes
    text = re.sub(r'\\"', "", str(row["text"]))
    text = re.sub(r"\\n\\n", " ", text)
    if not 0 < len(text.split()) <= 256:
        return None
    return Converted({"text": text}, [SENTIMENT[int(row["label"])]])


def _sentiment140(row: Row) -> Converted | None:
    polarity = int(row["sentiment"])  # 0 negative, 2 neutral (test only), 4 positive
    if polarity not in (0, 4):
        return None
    return Converted({"text": str(row["text"])}, [SENTIMENT[polarity // 4]])


def _custom(name: str, dataset: str, train: str, test: str, convert) -> TaskDef:
    base = classification(
        name, dataset, None, train, test, SENTIMENT, "sentiment", text_fields("text")
    )
    return replace(base, convert=convert)


DEFINITIONS = [
    classification(
        "sst2",
        "stanfordnlp/sst2",
        None,
        "train",
        "validation",
        SENTIMENT,
        "sentiment",
        text_fields("sentence"),
    ),
    _custom("yelp", "fancyzhx/yelp_polarity", "train", "test", _yelp),
    _custom("sentiment140", "stanfordnlp/sentiment140", "train", "test", _sentiment140),
]
