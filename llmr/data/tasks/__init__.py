"""Task data: BIG-bench JSON tasks or the paper's released files → train/test/passages tables."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from llmr.core.io import write_parquet
from llmr.core.records import (
    CLASSIFICATION,
    MULTIPLE_CHOICE,
    TASK_TYPES,
    gold_text,
    passage_contents,
)
from llmr.data.tasks.bigbench import load_bigbench_tasks
from llmr.data.tasks.released import load_released

log = logging.getLogger(__name__)

__all__ = ["prepare", "load_bigbench_tasks", "load_released"]


def prepare(
    source: str,
    source_dir: str,
    tasks: Sequence[str],
    held_out: Sequence[str],
    seed: int,
    max_train_per_task: int | None,
    max_test_per_task: int | None,
    test_fraction: float,
    task_types: dict[str, str],
    out_train: str,
    out_test: str,
    out_passages: str,
    out_tasks: str,
    *,
    task_metrics: dict[str, str],
    max_malformed_fraction: float,
    template: int | None = None,
) -> None:
    """Build the example, passage and task tables for a suite.

    ``source`` is ``bigbench`` (``source_dir`` holds ``<task>/task.json``) or ``released``
    (``source_dir`` holds train/test/passages ``.jsonl.gz`` in the paper's format), ``hub``
    (the same files fetched from the hub; ``source_dir`` lists them) or ``original`` (the
    paper's 30 datasets converted with ``template``; ``source_dir`` holds local copies, one
    folder per task, or is empty for the hub).
    The demonstration pool is the training split of every task, held-out ones included
    (they are only excluded from training the reward model and retriever).
    A BIG-bench task's malformed examples are skipped (and logged); the task is refused when
    more than ``max_malformed_fraction`` of its examples are malformed. The settings have no
    defaults (the config's ``suite``); ``template`` is needed by source ``original`` alone.
    """
    unknown = [t for t in held_out if t not in tasks]
    if unknown:
        raise ValueError(f"held_out task(s) not in the suite's tasks: {unknown}")
    bad = {t: v for t, v in task_types.items() if v not in TASK_TYPES}
    if bad:
        raise ValueError(f"task_types: unknown type(s) {bad}; use one of {TASK_TYPES}")
    if source == "bigbench":
        train, test, passages, meta = load_bigbench_tasks(
            source_dir,
            tasks,
            seed,
            test_fraction,
            max_train_per_task,
            max_test_per_task,
            task_types,
            max_malformed_fraction,
        )
    elif source in ("released", "hub"):  # hub: source_dir = the fetched suite files
        from llmr.data.tasks.hub import released_root

        train, test, passages, meta = load_released(
            released_root(source_dir),
            tasks,
            task_types,
            max_train_per_task,
            max_test_per_task,
            seed,
        )
    elif source == "original":  # the paper's datasets; source_dir: local copies or empty
        from llmr.data.tasks.original import load_original

        if template is None:
            raise ValueError("suite source 'original' needs a template index (suite.template)")
        train, test, passages, meta = load_original(
            source_dir, tasks, max_train_per_task, max_test_per_task, seed, template
        )
    else:
        raise ValueError(f"unknown suite source {source!r} (bigbench, released, hub, original)")
    _check_unique_ids(train, test, passages, source_dir)
    _check_single_line_labels(train, test, meta, source_dir)
    for name, metric in task_metrics.items():
        if name not in meta:
            raise ValueError(f"task_metrics: unknown task name {name!r}")
        meta[name]["metric"] = metric
    rows = []
    for name in tasks:
        m = meta[name]
        rows.append(
            {
                "task_name": name,
                "task_type": m["task_type"],
                "metric": m["metric"],
                "held_out": name in held_out,
                "labels": list(m.get("labels", [])),
                "n_train": int((train["task_name"] == name).sum()),
                "n_test": int((test["task_name"] == name).sum()),
                "n_passages": int((passages["task_name"] == name).sum()),
                "source": source,
            }
        )
    task_df = pd.DataFrame(rows)
    # the paper's suite has train-only (mnli) and test-only tasks (mnli_m, mnli_mm, wsc273)
    empty = task_df[(task_df.n_test == 0) & (task_df.n_passages == 0)]
    if len(empty):
        raise ValueError(f"task(s) with neither a test split nor a pool: {list(empty.task_name)}")
    if task_df.n_test.sum() == 0 or task_df.n_passages.sum() == 0:
        raise ValueError(
            f"{source_dir}: the suite has {int(task_df.n_test.sum())} test examples and "
            f"{int(task_df.n_passages.sum())} pool passages for tasks {list(tasks)}; it needs "
            "both (check the task names and the test / passages files)"
        )
    for name in task_df.task_name[(task_df.n_test == 0) | (task_df.n_passages == 0)]:
        log.warning("%s: no test split or no pool of its own (trains only / tests only)", name)
    write_parquet(train, out_train)
    write_parquet(test, out_test)
    write_parquet(passages, out_passages)
    write_parquet(task_df, out_tasks)
    log.info(
        "prepared %d tasks: %d train, %d test, %d passages",
        len(tasks),
        len(train),
        len(test),
        len(passages),
    )
    log.info("\n%s", task_df.drop(columns=["labels"]).to_string(index=False))


def _check_unique_ids(
    train: pd.DataFrame, test: pd.DataFrame, passages: pd.DataFrame, source_dir: str
) -> None:
    """Query ids unique within train and within test, passage ids unique (RecordError)."""
    from llmr.core.io import RecordError

    for split, df in (("train", train), ("test", test)):
        dup = df["query_id"][df["query_id"].duplicated()].unique().tolist()
        if dup:
            raise RecordError(
                f"{source_dir}: duplicate query_id(s) {dup[:5]} in the {split} "
                "split; each query needs its own id"
            )
    pdup = passages["id"][passages["id"].duplicated()].unique().tolist()
    if pdup:
        raise RecordError(
            f"{source_dir}: duplicate passage id(s) {pdup[:5]} in the passages "
            "file; each passage needs its own id"
        )


def _check_single_line_labels(
    train: pd.DataFrame, test: pd.DataFrame, meta: dict, source_dir: str
) -> None:
    """RecordError when a classification label holds a line break.

    A demonstration's label is the last line of its passage (``records.passage_label``), as
    in the reference; a label of several lines would be compared through its last line
    only, so every same-label candidate would get the -100 penalty. Refused here, where the
    data enters, so that every stage can rely on single-line labels.
    """
    from llmr.core.io import RecordError

    for name, m in meta.items():
        if m.get("task_type") != CLASSIFICATION:
            continue
        for label in m.get("labels", []):
            if "\n" in str(label) or "\r" in str(label):
                raise RecordError(
                    f"{source_dir}: task {name!r}: classification label "
                    f"{str(label)!r} contains a line break; labels must be one "
                    "line (a demonstration's label is its last line): replace it, "
                    f"or set suite.task_types.{name} to multiple_choice or "
                    "generation"
                )
        for split, df in (("train", train), ("test", test)):
            sub = df[df.task_name == name]
            for qid, a, o in zip(sub["query_id"], sub["answers"], sub["options"], strict=True):
                y = gold_text(a, o, where=f"{source_dir}: {split} query_id={qid}")
                if "\n" in y or "\r" in y:
                    raise RecordError(
                        f"{source_dir}: {split} query_id={qid}: task {name!r} is a "
                        f"classification task but its answer {y!r} contains a line break; "
                        "labels must be one line (a demonstration's label is its last "
                        f"line): replace it, or set suite.task_types.{name} to "
                        "multiple_choice or generation"
                    )


def passages_from_train(train: pd.DataFrame) -> pd.DataFrame:
    """The demonstration pool built from training examples (id = query_id)."""
    contents = [
        passage_contents(q, gold_text(a, o, where=qid))
        for q, a, o, qid in zip(
            train["query"], train["answers"], train["options"], train["query_id"], strict=True
        )
    ]
    return pd.DataFrame(
        {
            "id": train["query_id"].tolist(),
            "contents": contents,
            "task_name": train["task_name"].tolist(),
        }
    )


def infer_task_type(examples: pd.DataFrame, max_labels: int = 10) -> tuple[str, list[str]]:
    """Guess a task's type from its training examples: (type, label set)."""
    has_opts = any(any(str(o) for o in opts) for opts in examples["options"])
    if has_opts:
        return MULTIPLE_CHOICE, []
    firsts = [str(a[0]) for a in examples["answers"] if len(a)]
    labels = sorted(set(firsts))
    if 2 <= len(labels) <= max_labels and len(firsts) >= 3 * len(labels):
        return CLASSIFICATION, labels
    return "generation", []


def subsample(
    examples: str,
    tasks: str,
    out: str,
    max_per_task: int | None,
    seed: int,
    drop_held_out: bool = False,
) -> None:
    """Write a deterministic per-task subsample of an examples table.

    Used for the scored training queries (held-out tasks dropped) and the evaluation subset.
    """
    from llmr.core.io import read_parquet
    from llmr.data.tasks.split import task_rng

    df = read_parquet(examples)
    meta = read_parquet(tasks)
    held = set(meta.loc[meta.held_out, "task_name"]) if drop_held_out else set()
    parts = []
    for name in meta.task_name:
        if name in held:
            continue
        sub = df[df.task_name == name]
        if max_per_task is not None and len(sub) > max_per_task:
            idx = sorted(task_rng(name, seed).permutation(len(sub))[:max_per_task].tolist())
            sub = sub.iloc[idx]
        parts.append(sub)
    if not parts or sum(map(len, parts)) == 0:
        raise ValueError(f"{examples}: no examples left after subsampling")
    out_df = pd.concat(parts).reset_index(drop=True)
    write_parquet(out_df, out)
    log.info(
        "%s: kept %d of %d examples (max %s per task)", out, len(out_df), len(df), max_per_task
    )
