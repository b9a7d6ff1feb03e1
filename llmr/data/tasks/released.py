"""Reader for the paper's released files: train/test/passages ``.jsonl.gz``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from llmr.core.io import EXAMPLE_FIELDS, PASSAGE_FIELDS, RecordError, iter_jsonl, require_fields
from llmr.core.records import CLASSIFICATION, GENERATION, letter_index, real_options
from llmr.data.tasks.split import task_rng


def _find(root: Path, stem: str) -> Path:
    found = [
        root / f"{stem}{suffix}"
        for suffix in (".jsonl.gz", ".jsonl")
        if (root / f"{stem}{suffix}").exists()
    ]
    if len(found) > 1:
        raise FileNotFoundError(
            f"{root}: both {stem}.jsonl.gz and {stem}.jsonl; which one is "
            "the data is ambiguous: remove or rename one of them"
        )
    if found:
        return found[0]
    raise FileNotFoundError(f"{root}: no {stem}.jsonl.gz or {stem}.jsonl")


def _finite(v: object) -> bool:
    return not (isinstance(v, float) and not math.isfinite(v))


def _check_types(rec: dict, where: str) -> None:
    """RecordError naming the field when a released record has a field of the wrong type."""

    def bad(field: str, want: str) -> RecordError:
        return RecordError(
            f"{where}: '{field}' must be {want}, got "
            f"{type(rec[field]).__name__} {str(rec[field])[:40]!r}"
        )

    for f in ("query", "task_name"):
        if not isinstance(rec[f], str):
            raise bad(f, "a string")
        if not rec[f].strip():
            raise RecordError(f"{where}: '{f}' is empty or only whitespace")
    if isinstance(rec["query_id"], bool) or not isinstance(rec["query_id"], str | int):
        raise bad("query_id", "a string or an integer")
    scalar = (str, int, float)
    ans = rec["answers"]
    if not (
        isinstance(ans, scalar) or isinstance(ans, list) and all(isinstance(a, scalar) for a in ans)
    ):
        raise bad("answers", "a list of strings")
    if not all(_finite(a) for a in (ans if isinstance(ans, list) else [ans])):
        raise RecordError(
            f"{where}: 'answers' holds NaN or infinity, not an answer text ({str(ans)[:40]})"
        )
    opts = rec["options"]
    if not (isinstance(opts, list) and all(isinstance(o, scalar) for o in opts)):
        raise bad("options", 'a list of strings ([""] or [] when not multiple choice)')
    if not all(_finite(o) for o in opts):
        raise RecordError(f"{where}: 'options' holds NaN or infinity, not an option text")


def read_examples(path: Path, tasks: set[str] | None = None) -> pd.DataFrame:
    """Read and validate task examples; RecordError names the file and record."""
    rows = []
    for n, rec in enumerate(iter_jsonl(path), 1):
        where = f"{path}: record {n} (query_id={rec.get('query_id', '?')})"
        require_fields(rec, EXAMPLE_FIELDS, where)
        _check_types(rec, where)
        if tasks is not None and rec["task_name"] not in tasks:
            continue
        answers = rec["answers"] if isinstance(rec["answers"], list) else [rec["answers"]]
        if not answers or not str(answers[0]).strip():
            raise RecordError(f"{where}: empty answers")
        opts = real_options(rec["options"])
        if opts:
            try:
                letter_index(str(answers[0]), len(opts), where)
            except ValueError as e:
                raise RecordError(str(e)) from None
        rows.append(
            {
                "query_id": str(rec["query_id"]),
                "query": str(rec["query"]),
                "answers": [str(a) for a in answers],
                "options": opts,
                "task_name": str(rec["task_name"]),
            }
        )
    return pd.DataFrame(rows, columns=list(EXAMPLE_FIELDS))


def read_passages(path: Path) -> pd.DataFrame:
    """Read and validate the passage pool: string fields, non-empty contents."""
    rows = []
    for n, rec in enumerate(iter_jsonl(path), 1):
        where = f"{path}: record {n} (id={rec.get('id', '?')})"
        require_fields(rec, PASSAGE_FIELDS, where)
        for f in ("contents", "task_name"):
            if not isinstance(rec[f], str):
                raise RecordError(
                    f"{where}: '{f}' must be a string, got "
                    f"{type(rec[f]).__name__} {str(rec[f])[:40]!r}"
                )
        if isinstance(rec["id"], bool) or not isinstance(rec["id"], str | int):
            raise RecordError(
                f"{where}: 'id' must be a string or an integer, got {type(rec['id']).__name__}"
            )
        if not rec["contents"].strip():
            raise RecordError(f"{where}: empty 'contents' (a passage is its query and answer)")
        rows.append(
            {
                "id": str(rec["id"]),
                "contents": str(rec["contents"]),
                "task_name": str(rec["task_name"]),
            }
        )
    return pd.DataFrame(rows, columns=list(PASSAGE_FIELDS))


def _subsample(df: pd.DataFrame, tasks: Sequence[str], cap: int | None, seed: int) -> pd.DataFrame:
    if cap is None:
        return df.reset_index(drop=True)
    parts = []
    for t in tasks:
        sub = df[df.task_name == t]
        if len(sub) > cap:
            idx = sorted(task_rng(t, seed).permutation(len(sub))[:cap].tolist())
            sub = sub.iloc[idx]
        parts.append(sub)
    return pd.concat(parts).reset_index(drop=True)


def load_released(
    source_dir: str,
    tasks: Sequence[str],
    task_types: dict[str, str],
    max_train: int | None,
    max_test: int | None,
    seed: int,
):
    """Read a released-format suite: returns (train, test, passages, meta).

    The paper's tasks take their type, label words and metric from the task definitions
    (``llmr.data.tasks.original``); other tasks are inferred from their examples (generation
    tasks are then scored by exact match), unless ``task_types`` names them.
    """
    from llmr.data.tasks import infer_task_type
    from llmr.data.tasks.original import paper_task_meta

    root = Path(source_dir)
    wanted = set(tasks)
    train = read_examples(_find(root, "train"), wanted)
    test = read_examples(_find(root, "test"), wanted)
    passages = read_passages(_find(root, "passages"))
    present = set(train.task_name) | set(test.task_name)
    unknown = [t for t in tasks if t not in present]
    if unknown:
        raise ValueError(
            f"unknown task name(s) {unknown}: not in {root} (present: {sorted(present)[:10]})"
        )
    passages = passages[passages.task_name.isin(wanted)].reset_index(drop=True)
    train = _subsample(train, tasks, max_train, seed)
    test = _subsample(test, tasks, max_test, seed)
    meta = {}
    for t in tasks:
        sub = train[train.task_name == t]
        paper = paper_task_meta(t)
        if paper is not None and t not in task_types:
            meta[t] = paper  # a paper task: its type, label words and metric from the table
            continue
        if t in task_types:
            ttype = task_types[t]
            labels = sorted({a[0] for a in sub.answers}) if ttype == CLASSIFICATION else []
        else:
            ttype, labels = infer_task_type(sub if len(sub) else test[test.task_name == t])
        metric = "exact_match" if ttype == GENERATION else "accuracy"
        meta[t] = {"task_type": ttype, "labels": labels, "metric": metric}
    return train, test, passages, meta
