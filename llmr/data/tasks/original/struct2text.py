"""Data-to-text: CommonGen, DART, E2E NLG (ROUGE-L)."""

from __future__ import annotations

import re

from llmr.data.tasks.original.base import Converted, Row, generation


def _common_gen(row: Row) -> Converted | None:
    return Converted({"concepts": ", ".join(row["concepts"])}, [str(row["target"])])


def _dart(row: Row) -> Converted | None:
    triples = "; ".join(", ".join(t) for t in row["tripleset"])
    triples = re.sub(r"\[(.*?)\]", "", triples)  # drops [TABLECONTEXT], [TITLE] cells
    return Converted({"tripleset": triples}, [str(row["target"])])


def _e2e(row: Row) -> Converted | None:
    mr = str(row["meaning_representation"]).replace("[", " = ").replace("]", "")
    return Converted({"meaning_representation": mr}, [str(row["target"])])


DEFINITIONS = [
    generation(
        "common_gen", "allenai/common_gen", None, "train", "validation", "struct2text", _common_gen
    ),
    generation("dart", "GEM/dart", None, "train", "validation", "struct2text", _dart),
    generation("e2e_nlg", "GEM/e2e_nlg", None, "train", "test", "struct2text", _e2e),
]
