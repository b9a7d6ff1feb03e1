"""Paraphrase detection: MRPC, PAWS, QQP (MRPC and QQP report accuracy and F1)."""

from __future__ import annotations

from llmr.data.tasks.original.base import YES_NO, Row, classification, text_fields


def _qqp_fields(row: Row) -> dict[str, str]:
    return {k: str(row[k]).replace('""', "'") for k in ("question1", "question2")}


_S12 = text_fields("sentence1", "sentence2")

DEFINITIONS = [
    classification(
        "mrpc",
        "nyu-mll/glue",
        "mrpc",
        "train",
        "validation",
        YES_NO,
        "paraphrase",
        _S12,
        metric="f1_acc",
        paper_metric="acc_and_f1",
    ),
    classification(
        "paws",
        "google-research-datasets/paws",
        "labeled_final",
        "train",
        "test",
        YES_NO,
        "paraphrase",
        _S12,
    ),
    classification(
        "qqp",
        "nyu-mll/glue",
        "qqp",
        "train",
        "validation",
        YES_NO,
        "paraphrase",
        _qqp_fields,
        metric="f1_acc",
        paper_metric="acc_and_f1",
    ),
]
