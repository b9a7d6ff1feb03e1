"""Entry points from existing artifacts (e.g. the paper's released candidate, score and
teacher files): validate a user-given table and store it as the pipeline's own Parquet."""

from __future__ import annotations

import logging
import math

from llmr.io import CANDIDATE_FIELDS, RecordError, read_parquet, read_table, write_parquet
from llmr.records import letter_index, real_options

log = logging.getLogger(__name__)


def _as_list(value: object, field: str, where: str) -> list:
    """A list-like field as a list; RecordError naming the record otherwise."""
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise RecordError(f"{where}: '{field}' must be a list, got {type(value).__name__}")
    return list(value)


def validate_candidates(df, src: str, pool: set[str], kind: str) -> None:
    """Check a candidate-format table record by record; RecordError names file and record."""
    if not len(df):
        raise RecordError(f"{src}: the {kind} file has no records")
    missing = [c for c in CANDIDATE_FIELDS if c not in df.columns]
    if missing:
        raise RecordError(f"{src}: {kind} file lacks field(s) {missing} (a record needs "
                          f"{list(CANDIDATE_FIELDS)})")
    seen: dict[str, int] = {}
    for n, row in enumerate(df.itertuples(index=False), 1):
        where = f"{src}: record {n} (query_id={row.query_id})"
        qid = str(row.query_id)
        if qid in seen:
            raise RecordError(f"{where}: duplicate query_id (also record {seen[qid]}); each "
                              "query must appear once")
        seen[qid] = n
        if not isinstance(row.query, str) or not row.query.strip():
            raise RecordError(f"{where}: 'query' must be a non-empty string")
        ids = _as_list(row.doc_ids, "doc_ids", where)
        scores = _as_list(row.doc_scores, "doc_scores", where)
        if len(ids) != len(scores):
            raise RecordError(f"{where}: doc_ids ({len(ids)}) and doc_scores ({len(scores)}) "
                              "differ in length; they must be parallel lists")
        bad = [s for s in scores if isinstance(s, bool) or not isinstance(s, int | float)
               or not math.isfinite(float(s))]
        if bad:
            raise RecordError(f"{where}: doc_scores must be finite numbers, got {bad[:3]}")
        unknown = [d for d in ids if str(d) not in pool]
        if unknown:
            raise RecordError(f"{where}: doc id(s) not in the passage pool: {unknown[:3]} "
                              "(was the file made for another suite?)")
        answers = _as_list(row.answers, "answers", where)
        if not answers or not str(answers[0]).strip():
            raise RecordError(f"{where}: empty answers")
        opts = real_options(_as_list(row.options, "options", where)
                            if row.options is not None else None)
        if opts:
            try:
                letter_index(str(answers[0]), len(opts), where)
            except ValueError as e:
                raise RecordError(str(e)) from None


def import_candidates(src: str, passages: str, out: str, kind: str = "candidates") -> None:
    """Validate a candidate-format file (candidates, LLM scores or teacher scores).

    Each record needs the example fields plus parallel ``doc_ids`` / ``doc_scores`` lists
    whose ids exist in the passage pool; query ids are unique; scores are finite numbers;
    a multiple-choice answer is one of its option letters. ``src`` may be Parquet, JSONL or
    JSONL.gz. Nothing is written unless every record passes.
    """
    df = read_table(src)
    pool = set(read_parquet(passages, columns=["id"])["id"].astype(str))
    if not pool:
        raise RecordError(f"{passages}: the passage pool is empty")
    validate_candidates(df, src, pool, kind)
    df["doc_ids"] = [[str(d) for d in ids] for ids in df["doc_ids"]]
    df["doc_scores"] = [[float(s) for s in sc] for sc in df["doc_scores"]]
    df["options"] = [real_options(o) for o in df["options"]]
    df["answers"] = [[str(a) for a in ans] for ans in df["answers"]]
    df["query_id"] = df["query_id"].astype(str)
    write_parquet(df[list(CANDIDATE_FIELDS)], out)
    log.info("imported %d %s records from %s", len(df), kind, src)
