"""Entry points from existing artifacts (e.g. the paper's released candidate, score and
teacher files): validate a user-given table and store it as the pipeline's own Parquet."""

from __future__ import annotations

import logging

from llmr.io import CANDIDATE_FIELDS, RecordError, read_parquet, read_table, write_parquet
from llmr.records import real_options

log = logging.getLogger(__name__)


def import_candidates(src: str, passages: str, out: str, kind: str = "candidates") -> None:
    """Validate a candidate-format file (candidates, LLM scores or teacher scores).

    Each record needs the example fields plus parallel ``doc_ids`` / ``doc_scores`` lists
    whose ids exist in the passage pool. ``src`` may be Parquet, JSONL or JSONL.gz.
    """
    df = read_table(src)
    missing = [c for c in CANDIDATE_FIELDS if c not in df.columns]
    if missing:
        raise RecordError(f"{src}: {kind} file lacks field(s) {missing}")
    pool = set(read_parquet(passages, columns=["id"])["id"])
    for n, row in enumerate(df.itertuples(index=False), 1):
        where = f"{src}: record {n} (query_id={row.query_id})"
        ids, scores = list(row.doc_ids), list(row.doc_scores)
        if len(ids) != len(scores):
            raise RecordError(f"{where}: doc_ids and doc_scores differ in length")
        unknown = [d for d in ids if str(d) not in pool]
        if unknown:
            raise RecordError(f"{where}: doc id(s) not in the passage pool: {unknown[:3]}")
        if not len(row.answers):
            raise RecordError(f"{where}: empty answers")
    df["doc_ids"] = [[str(d) for d in ids] for ids in df["doc_ids"]]
    df["doc_scores"] = [[float(s) for s in sc] for sc in df["doc_scores"]]
    df["options"] = [real_options(o) for o in df["options"]]
    df["answers"] = [[str(a) for a in ans] for ans in df["answers"]]
    df["query_id"] = df["query_id"].astype(str)
    write_parquet(df[list(CANDIDATE_FIELDS)], out)
    log.info("imported %d %s records from %s", len(df), kind, src)
