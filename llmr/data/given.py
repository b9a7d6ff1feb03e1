"""Entry points from existing artifacts (e.g. the paper's released candidate, score and
teacher files): validate a user-given table and store it as the pipeline's own Parquet."""

from __future__ import annotations

import logging
import math

import pandas as pd

from llmr.core.io import (
    CANDIDATE_FIELDS,
    RecordError,
    iter_jsonl,
    read_parquet,
    read_table,
    write_parquet,
)
from llmr.core.records import CLASSIFICATION, letter_index, real_options

log = logging.getLogger(__name__)


def _as_list(value: object, field: str, where: str) -> list:
    """A list field (a JSON list, or a Parquet list read back) as a list; RecordError naming
    the record otherwise (a string, a dict, a number)."""
    import numpy as np

    if not isinstance(value, list | tuple | np.ndarray):
        raise RecordError(f"{where}: '{field}' must be a list, got {type(value).__name__}")
    return list(value)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def validate_candidates(
    df,
    src: str,
    pool: set[str],
    kind: str,
    tasks: set[str] | None = None,
    classification: set[str] = frozenset(),
) -> None:
    """Check a candidate-format table record by record; RecordError names file and record."""
    if not len(df):
        raise RecordError(f"{src}: the {kind} file has no records")
    missing = [c for c in CANDIDATE_FIELDS if c not in df.columns]
    if missing:
        raise RecordError(
            f"{src}: {kind} file lacks field(s) {missing} (a record needs {list(CANDIDATE_FIELDS)})"
        )
    seen: dict[str, int] = {}
    for n, row in enumerate(df.itertuples(index=False), 1):
        where = f"{src}: record {n} (query_id={row.query_id})"
        if (
            _is_missing(row.query_id)
            or isinstance(row.query_id, bool)
            or not isinstance(row.query_id, str | int)
            or not str(row.query_id).strip()
        ):
            raise RecordError(
                f"{where}: 'query_id' must be a non-empty string or an integer, "
                f"got {row.query_id!r}"
            )
        qid = str(row.query_id)
        if qid in seen:
            raise RecordError(
                f"{where}: duplicate query_id (also record {seen[qid]}); each "
                "query must appear once"
            )
        seen[qid] = n
        if not isinstance(row.query, str) or not row.query.strip():
            raise RecordError(f"{where}: 'query' must be a non-empty string")
        if not isinstance(row.task_name, str) or not row.task_name.strip():
            raise RecordError(
                f"{where}: 'task_name' must be a non-empty string, got {row.task_name!r}"
            )
        if tasks is not None and row.task_name not in tasks:
            raise RecordError(
                f"{where}: task_name {row.task_name!r} is not a task of the suite's "
                f"passage pool {sorted(tasks)[:10]} (was the file made for another "
                "suite?)"
            )
        ids = _as_list(row.doc_ids, "doc_ids", where)
        scores = _as_list(row.doc_scores, "doc_scores", where)
        if len(ids) != len(scores):
            raise RecordError(
                f"{where}: doc_ids ({len(ids)}) and doc_scores ({len(scores)}) "
                "differ in length; they must be parallel lists"
            )
        bad = [
            s
            for s in scores
            if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(float(s))
        ]
        if bad:
            raise RecordError(f"{where}: doc_scores must be finite numbers, got {bad[:3]}")
        if any(not isinstance(d, str | int) or isinstance(d, bool) for d in ids):
            raise RecordError(
                f"{where}: doc_ids must be strings or integers, got "
                f"{[d for d in ids if not isinstance(d, str | int)][:3]}"
            )
        dup = sorted({str(d) for d in ids if [str(x) for x in ids].count(str(d)) > 1})
        if dup:
            raise RecordError(
                f"{where}: duplicate doc id(s) {dup[:3]} in one record; each "
                "candidate must appear once"
            )
        unknown = [d for d in ids if str(d) not in pool]
        if unknown:
            raise RecordError(
                f"{where}: doc id(s) not in the passage pool: {unknown[:3]} "
                "(was the file made for another suite?)"
            )
        answers = _as_list(row.answers, "answers", where)
        if not answers or not str(answers[0]).strip():
            raise RecordError(f"{where}: empty answers")
        bad = [
            a
            for a in answers
            if isinstance(a, bool)
            or not isinstance(a, str | int | float)
            or (isinstance(a, float) and not math.isfinite(a))
        ]
        if bad:
            raise RecordError(f"{where}: answers must be strings, got {bad[:3]!r}")
        opts = real_options(
            _as_list(row.options, "options", where) if row.options is not None else None
        )
        if opts:
            try:
                letter_index(str(answers[0]), len(opts), where)
            except ValueError as e:
                raise RecordError(str(e)) from None
        elif row.task_name in classification and "\n" in str(answers[0]):
            raise RecordError(
                f"{where}: task {row.task_name!r} is a classification task but "
                f"the answer {str(answers[0])!r} contains a line break; labels "
                "must be one line (a demonstration's label is its last line)"
            )


def import_candidates(
    src: str, passages: str, out: str, kind: str = "candidates", tasks: str | None = None
) -> None:
    """Validate a candidate-format file (candidates, LLM scores or teacher scores).

    Each record needs the example fields plus parallel ``doc_ids`` / ``doc_scores`` lists
    whose ids exist in the passage pool; query ids are unique; scores are finite numbers;
    a multiple-choice answer is one of its option letters. ``src`` may be Parquet, JSONL or
    JSONL.gz. ``tasks`` (the suite's task table), when given, names the tasks a record may
    belong to (else: the pool's) and the classification ones, whose answers must be one line.
    Nothing is written unless every record passes.
    """
    if str(src).endswith(".parquet"):
        df = read_table(src)
    else:  # object columns: values as written (no 1 -> 1.0, None -> NaN by type inference)
        df = pd.DataFrame(list(iter_jsonl(src)), dtype=object)
    ptab = read_parquet(passages, columns=["id", "task_name"])
    pool = set(ptab["id"].astype(str))
    if not pool:
        raise RecordError(f"{passages}: the passage pool is empty")
    names, classification = set(ptab["task_name"].astype(str)), set()
    if tasks:
        tdf = read_parquet(tasks, columns=["task_name", "task_type"])
        names = set(tdf["task_name"].astype(str))
        classification = set(tdf.loc[tdf["task_type"] == CLASSIFICATION, "task_name"])
    validate_candidates(df, src, pool, kind, tasks=names, classification=classification)
    df["doc_ids"] = [[str(d) for d in ids] for ids in df["doc_ids"]]
    df["doc_scores"] = [[float(s) for s in sc] for sc in df["doc_scores"]]
    df["options"] = [real_options(o) for o in df["options"]]
    df["answers"] = [[str(a) for a in ans] for ans in df["answers"]]
    df["query_id"] = df["query_id"].astype(str)
    write_parquet(df[list(CANDIDATE_FIELDS)], out)
    log.info("imported %d %s records from %s", len(df), kind, src)
