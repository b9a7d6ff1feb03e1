"""The paper's 30 tasks from their original datasets (``suite.source: original``).

Each dataset has one small :class:`TaskDef` (hub id, splits, label words, metric, and a
row conversion) in a module per task cluster; templates are data in ``templates.py``.
A row becomes a paper record: ``query`` = the chosen template filled with the row's fields,
``answers`` (letters for multiple choice), ``options``, ``task_name``, and ``query_id`` =
``<task>_<train|test>_<n>`` (n counts the rows kept after filtering). The demonstration
pool is every converted training row (passage = query + newline + answer text), so a
capped training split (``max_train_per_task``) still retrieves from the whole pool.

The suite has 31 task names: 30 evaluated ones plus ``mnli``, which only trains (its test
sets are the tasks ``mnli_m`` and ``mnli_mm``); ``wsc273`` and the two MNLI test tasks have
no training split and so no demonstrations of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from llmr.core.io import EXAMPLE_FIELDS
from llmr.core.records import CLASSIFICATION
from llmr.data.tasks.original import (
    close_qa,
    commonsense,
    coreference,
    nli,
    paraphrase,
    reading,
    sentiment,
    struct2text,
    summarize,
)
from llmr.data.tasks.original.base import Converted, TaskDef
from llmr.data.tasks.original.templates import TEMPLATES
from llmr.data.tasks.split import task_rng

log = logging.getLogger(__name__)

REGISTRY: dict[str, TaskDef] = {
    d.name: d
    for module in (
        nli,
        paraphrase,
        sentiment,
        close_qa,
        reading,
        commonsense,
        coreference,
        struct2text,
        summarize,
    )
    for d in module.DEFINITIONS
}
PAPER_TASKS: tuple[str, ...] = tuple(sorted(REGISTRY))
PAPER_EVAL_TASKS: tuple[str, ...] = tuple(t for t in PAPER_TASKS if REGISTRY[t].test_split)
PAPER_HELD_OUT: tuple[str, ...] = ("qnli", "piqa", "yelp")

__all__ = [
    "REGISTRY",
    "PAPER_TASKS",
    "PAPER_EVAL_TASKS",
    "PAPER_HELD_OUT",
    "TaskDef",
    "Converted",
    "format_rows",
    "load_original",
    "load_task_split",
    "paper_task_meta",
    "template_of",
]


def definition(name: str) -> TaskDef:
    """The definition of a paper task; ValueError lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown paper task {name!r}; known: {', '.join(PAPER_TASKS)}") from None


def template_of(defn: TaskDef, index: int) -> str:
    """Query template number ``index`` (modulo the task's template count)."""
    templates = TEMPLATES[defn.templates or defn.name]
    return templates[index % len(templates)]


def paper_task_meta(name: str) -> dict[str, Any] | None:
    """Type, metric and label words of a paper task (None for a task outside the paper)."""
    defn = REGISTRY.get(name)
    if defn is None:
        return None
    return {"task_type": defn.task_type, "metric": defn.metric, "labels": list(defn.labels)}


def format_rows(
    defn: TaskDef, rows: Iterable[dict[str, Any]], which: str, template: int
) -> pd.DataFrame:
    """Convert hub rows of one split into paper records (examples table columns)."""
    query_template = template_of(defn, template)
    out = []
    for row in rows:
        conv = defn.convert(row)
        if conv is None:
            continue
        out.append(
            {
                "query_id": f"{defn.name}_{which}_{len(out)}",
                "query": query_template.format(**conv.fields),
                "answers": list(conv.answers),
                "options": list(conv.options),
                "task_name": defn.name,
            }
        )
    return pd.DataFrame(out, columns=list(EXAMPLE_FIELDS))


def load_task_split(
    defn: TaskDef, which: str, local_dir: str | Path | None = None, cache_dir: str | None = None
):
    """The ``datasets.Dataset`` behind llmr's ``train`` / ``test`` split, or None.

    ``local_dir`` (a folder of data files named by split, e.g. ``validation.parquet``, in
    the dataset's hub schema) replaces the hub; otherwise the hub id and config are used.
    """
    import datasets

    split = defn.split(which)
    if split is None:
        return None
    if local_dir is not None:
        return datasets.load_dataset(str(local_dir), split=split, cache_dir=cache_dir)
    try:
        return datasets.load_dataset(defn.dataset, defn.config, split=split, cache_dir=cache_dir)
    except Exception as e:  # noqa: BLE001 - offline, moved dataset, no loading script, ...
        raise RuntimeError(
            f"{defn.name}: cannot load {defn.dataset!r} (config {defn.config!r}, split "
            f"{split!r}) with datasets.load_dataset: {type(e).__name__}: {e}. Put a copy of its "
            f"data files (named by split, e.g. {split}.parquet) in <folder>/{defn.name}/ and set "
            f"suite.original_dir: <folder>."
        ) from e


def _cap(df: pd.DataFrame, task: str, cap: int | None, seed: int) -> pd.DataFrame:
    if cap is None or len(df) <= cap:
        return df
    idx = sorted(task_rng(task, seed).permutation(len(df))[:cap].tolist())
    return df.iloc[idx]


def _local_dir(source_dir: Any, task: str) -> Path | None:
    if not source_dir:  # no folder configured: every task comes from the hub
        return None
    root = Path(str(source_dir[0] if isinstance(source_dir, list | tuple) else source_dir))
    folder = root / task
    return folder if folder.is_dir() else None


def load_original(
    source_dir: Any,
    tasks: Sequence[str],
    max_train: int | None,
    max_test: int | None,
    seed: int,
    template: int,
    cache_dir: str | None = None,
):
    """Convert the paper's datasets: returns (train, test, passages, meta) like load_released.

    ``source_dir``: a folder with one sub-folder per task holding local copies (used where
    present), or empty to load every task from the hub.
    """
    from llmr.data.tasks import passages_from_train

    defs = [definition(t) for t in tasks]
    trains, tests, pools, meta = [], [], [], {}
    for defn in defs:
        local = _local_dir(source_dir, defn.name)
        log.info("%s: loading %s", defn.name, local or f"{defn.dataset} ({defn.config})")
        parts = {}
        for which in ("train", "test"):
            ds = load_task_split(defn, which, local, cache_dir)
            parts[which] = (
                format_rows(defn, ds, which, template)
                if ds is not None
                else pd.DataFrame(columns=list(EXAMPLE_FIELDS))
            )
        pools.append(passages_from_train(parts["train"]) if len(parts["train"]) else None)
        trains.append(_cap(parts["train"], defn.name, max_train, seed))
        tests.append(_cap(parts["test"], defn.name, max_test, seed))
        meta[defn.name] = paper_task_meta(defn.name)
        log.info(
            "%s: %d train (%d in the pool), %d test",
            defn.name,
            len(trains[-1]),
            len(parts["train"]),
            len(tests[-1]),
        )
    train = pd.concat(trains).reset_index(drop=True)
    test = pd.concat(tests).reset_index(drop=True)
    pool_parts = [p for p in pools if p is not None]
    passages = (
        pd.concat(pool_parts).reset_index(drop=True)
        if pool_parts
        else pd.DataFrame(columns=["id", "contents", "task_name"])
    )
    for name, m in meta.items():
        if m["task_type"] == CLASSIFICATION and not m["labels"]:
            raise ValueError(f"{name}: classification task without label words")
    return train, test, passages, meta
