"""Natural language inference: RTE, MNLI (train; test sets mnli_m, mnli_mm), QNLI, SNLI."""

from __future__ import annotations

from llmr.data.tasks.original.base import ENTAIL2, NLI3, classification, text_fields

_PH = text_fields("premise", "hypothesis")

DEFINITIONS = [
    classification("rte", "aps/super_glue", "rte", "train", "validation", ENTAIL2, "nli", _PH),
    # MNLI trains on its training set and is evaluated as two tasks, matched and mismatched
    classification("mnli", "nyu-mll/glue", "mnli", "train", None, NLI3, "nli", _PH),
    classification(
        "mnli_m",
        "nyu-mll/glue",
        "mnli_matched",
        None,
        "validation",
        NLI3,
        "nli",
        _PH,
        templates="mnli",
    ),
    classification(
        "mnli_mm",
        "nyu-mll/glue",
        "mnli_mismatched",
        None,
        "validation",
        NLI3,
        "nli",
        _PH,
        templates="mnli",
    ),
    classification(
        "qnli",
        "nyu-mll/glue",
        "qnli",
        "train",
        "validation",
        ENTAIL2,
        "nli",
        text_fields("question", "sentence"),
    ),
    # SNLI marks examples without a gold label with -1; they are dropped
    classification("snli", "stanfordnlp/snli", None, "train", "test", NLI3, "nli", _PH),
]
