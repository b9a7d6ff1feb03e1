"""Candidate tables shared by sparse (``llmr.retrieval.bm25``) and dense (``llmr.retrieval.index``) search.

A candidate table has one row per query (``query_id``, ``doc_ids``, ``doc_scores``, ranked
best first). What both searches share lives here: reading passages and queries, the id
fingerprint that ties an index to its passage table, self-exclusion by content hash (a
training query never retrieves itself), deterministic top-k with ties broken by passage
row index, and writing the table (+ a TREC run file).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from llmr.core.io import (
    EXAMPLE_FIELDS,
    PASSAGE_FIELDS,
    read_parquet,
    write_parquet,
    write_text,
)
from llmr.core.records import content_hash, query_hash

log = logging.getLogger(__name__)

PARAMS_FILE = "params.json"

# (queries of a batch) -> (indices (B, K) int64 with -1 padding, scores (B, K) float32)
RetrieveFn = Callable[[list[int], int], tuple[np.ndarray, np.ndarray]]


def read_passages(path: str) -> pd.DataFrame:
    """Read a passages table; raise ValueError when it is empty or lacks columns."""
    df = read_parquet(path)
    missing = [c for c in PASSAGE_FIELDS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: passages table lacks column(s) {missing}")
    if len(df) == 0:
        raise ValueError(f"{path}: the passage pool is empty; nothing to index or search")
    return df.reset_index(drop=True)


def read_queries(path: str) -> pd.DataFrame:
    """Read an examples table (the queries); raise ValueError when it lacks columns."""
    df = read_parquet(path)
    missing = [c for c in EXAMPLE_FIELDS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: examples table lacks column(s) {missing}")
    return df.reset_index(drop=True)


def ids_fingerprint(ids: Sequence[str]) -> str:
    """sha1 of the passage ids in pool order (ties an index to its passages table)."""
    h = hashlib.sha1()
    for i in ids:
        h.update(str(i).encode("utf-8") + b"\0")
    return h.hexdigest()


def check_ids(index_dir: str, recorded: str, passages: pd.DataFrame) -> None:
    """Raise ValueError if ``passages`` is not the table the index was built from."""
    if recorded != ids_fingerprint(passages["id"].tolist()):
        raise ValueError(
            f"{index_dir}: the passages table differs from the one indexed "
            f"({len(passages)} passages now); rebuild the index"
        )


def self_exclusions(queries: pd.DataFrame, passages: pd.DataFrame) -> list[np.ndarray]:
    """Per query, the pool rows (int64 arrays) whose content hash is the query's own passage.

    A query without answers cannot have a demonstration of itself: it excludes nothing.
    """
    rows_by_hash: dict[str, list[int]] = {}
    for i, text in enumerate(passages["contents"]):
        rows_by_hash.setdefault(content_hash(str(text)), []).append(i)
    out = []
    for q, a, o, qid in zip(
        queries["query"],
        queries["answers"],
        queries["options"],
        queries["query_id"],
        strict=True,
    ):
        if a is None or len(a) == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        try:
            h = query_hash(str(q), list(a), None if o is None else list(o))
        except ValueError as e:
            raise ValueError(f"query {qid}: {e}") from None
        out.append(np.asarray(rows_by_hash.get(h, []), dtype=np.int64))
    return out


def top_positions(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest finite-or-+inf entries of ``values`` (N,), best first.

    Ties are broken by lower position; entries equal to -inf are never selected.
    """
    n = len(values)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        kth = np.partition(values, n - k)[n - k]  # k-th largest value
        above = np.flatnonzero(values > kth)
        ties = np.flatnonzero(values == kth)[: k - len(above)]
        cand = np.concatenate([above, ties])
    else:
        cand = np.arange(n)
    cand = cand[values[cand] > -np.inf]
    return cand[np.lexsort((cand, -values[cand]))]


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of each row of ``scores`` (Q, N), best first, ties broken by lower column index.

    Entries equal to -inf are never selected. Returns (indices (Q, k) int64 padded with -1,
    scores (Q, k) float32 padded with -inf).
    """
    scores = np.atleast_2d(scores)
    idx_out = np.full((len(scores), k), -1, dtype=np.int64)
    sc_out = np.full((len(scores), k), -np.inf, dtype=np.float32)
    for r, row in enumerate(scores):
        sel = top_positions(row, k)
        idx_out[r, : len(sel)] = sel
        sc_out[r, : len(sel)] = row[sel]
    return idx_out, sc_out


def sort_hits(indices: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-order each row's hits (Q, K) by score descending, then row index ascending."""
    indices, scores = indices.copy(), scores.copy()
    for r in range(len(indices)):
        order = np.lexsort(
            (np.where(indices[r] < 0, np.iinfo(np.int64).max, indices[r]), -scores[r])
        )
        indices[r], scores[r] = indices[r][order], scores[r][order]
    return indices, scores


def candidates_table(
    queries: pd.DataFrame,
    passage_ids: Sequence[str],
    indices: np.ndarray,
    scores: np.ndarray,
    topk: int,
    exclude: list[np.ndarray] | None = None,
) -> pd.DataFrame:
    """Candidates table: example columns + ``doc_ids`` (list[str]) + ``doc_scores`` (list[float]).

    ``indices`` / ``scores`` (Q, K) are pool rows best first (-1 = no hit); rows listed in
    ``exclude[q]`` are dropped and at most ``topk`` hits remain per query.
    """
    doc_ids, doc_scores = [], []
    for r in range(len(queries)):
        keep = indices[r] >= 0
        if exclude is not None and len(exclude[r]):
            keep &= ~np.isin(indices[r], exclude[r])
        rows, vals = indices[r][keep][:topk], scores[r][keep][:topk]
        doc_ids.append([str(passage_ids[i]) for i in rows])
        doc_scores.append([float(v) for v in vals])
    out = queries[list(EXAMPLE_FIELDS)].copy()
    out["doc_ids"] = doc_ids
    out["doc_scores"] = doc_scores
    return out


def write_trec(candidates: pd.DataFrame, path: str, run_name: str) -> None:
    """Write a TREC run file: ``qid Q0 docid rank score run_name`` per hit, rank from 1."""
    lines = []
    for qid, ids, scores in zip(
        candidates["query_id"], candidates["doc_ids"], candidates["doc_scores"], strict=True
    ):
        for rank, (d, s) in enumerate(zip(ids, scores, strict=True), 1):
            lines.append(f"{qid} Q0 {d} {rank} {s:.6f} {run_name}")
    write_text("\n".join(lines) + ("\n" if lines else ""), path)


def run_search(
    queries: pd.DataFrame,
    passages: pd.DataFrame,
    retrieve: RetrieveFn,
    topk: int,
    exclude_self: bool,
    out: str,
    run_file: str | None,
    run_name: str,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Retrieve for every query, drop self-hits, write the candidates table (+ TREC run).

    ``retrieve(rows, k)`` returns hits (len(rows), k) for query rows ``rows``; it is asked
    for ``topk`` plus as many extra hits as the query can lose to self-exclusion.
    """
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    exclude = self_exclusions(queries, passages) if exclude_self else None
    extra = max((len(e) for e in exclude), default=0) if exclude is not None else 0
    k = min(topk + extra, len(passages))
    idx_parts, sc_parts = [], []
    for start in range(0, len(queries), batch_size):
        rows = list(range(start, min(start + batch_size, len(queries))))
        idx, sc = retrieve(rows, k)
        idx_parts.append(idx)
        sc_parts.append(sc)
    indices = np.concatenate(idx_parts) if idx_parts else np.zeros((0, k), dtype=np.int64)
    scores = np.concatenate(sc_parts) if sc_parts else np.zeros((0, k), dtype=np.float32)
    cands = candidates_table(queries, passages["id"].tolist(), indices, scores, topk, exclude)
    write_parquet(cands, out)
    if run_file:
        write_trec(cands, run_file, run_name)
    n_hits = cands["doc_ids"].map(len)
    log.info(
        "%d queries: %.1f candidates on average (min %d) written to %s",
        len(cands),
        n_hits.mean() if len(cands) else 0.0,
        n_hits.min() if len(cands) else 0,
        out,
    )
    return cands
