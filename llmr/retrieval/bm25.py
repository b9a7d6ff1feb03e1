"""Sparse retrieval with bm25s (candidate tables: ``llmr.retrieval.candidates``).

A BM25 index folder holds bm25s's own files (``bm25s.BM25.save``) and ``params.json``
(k1, b, method, tokenisation settings, ``n_passages``, ``ids_sha1``). Searching returns,
per query, only passages that share at least one indexed token with it (as Lucene does):
a query with no indexable token (empty, or stopwords only) gets empty ``doc_ids`` /
``doc_scores`` and a warning is logged.

What sparse and dense search share (self-exclusion, top-k, candidate tables, TREC run
files) is in ``llmr.retrieval.candidates``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from llmr.core.io import (
    atomic_path,
    read_json,
    write_json,
)
from llmr.retrieval.candidates import (
    PARAMS_FILE,
    check_ids,
    ids_fingerprint,
    read_passages,
    read_queries,
    run_search,
    top_positions,
)

log = logging.getLogger(__name__)

TOKEN_PATTERN = r"(?u)\b\w\w+\b"

# ---------------------------------------------------------------- BM25


def _stemmer(name: str | None):
    if name is None:
        return None
    try:
        import Stemmer  # PyStemmer
    except ImportError:
        raise ImportError(
            f"stemmer={name!r} needs the PyStemmer package (pip install PyStemmer)"
        ) from None
    return Stemmer.Stemmer(name).stemWords


def tokenize(
    texts: Sequence[str], stopwords: str | None = "en", stemmer: str | None = None
) -> list[list[str]]:
    """bm25s tokenisation (lowercase, ``\\w\\w+`` words, stopwords, optional stemming).

    Returns one token list per text; a text without tokens gives [].
    """
    toks = bm25s.tokenize(
        list(texts),
        lower=True,
        token_pattern=TOKEN_PATTERN,
        stopwords=stopwords or [],
        stemmer=_stemmer(stemmer),
        return_ids=False,
        show_progress=False,
    )
    return [[t for t in doc if t] for doc in toks]


def build_index(
    passages: str,
    out_dir: str,
    *,
    k1: float,
    b: float,
    method: str,
    stopwords: str | None,
    stemmer: str | None = None,
) -> None:
    """Index the pool (passages Parquet) with bm25s; save it and ``params.json`` in ``out_dir``.
    The settings have no defaults: the config's ``bm25`` section."""
    pool = read_passages(passages)
    tokens = tokenize(pool["contents"].astype(str).tolist(), stopwords, stemmer)
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(tokens, show_progress=False)
    params = {
        "k1": k1,
        "b": b,
        "method": method,
        "stopwords": stopwords,
        "stemmer": stemmer,
        "lower": True,
        "token_pattern": TOKEN_PATTERN,
        "n_passages": len(pool),
        "ids_sha1": ids_fingerprint(pool["id"].tolist()),
        "bm25s_version": bm25s.__version__,
    }
    with atomic_path(out_dir) as tmp:
        retriever.save(str(tmp), show_progress=False)
        write_json(params, Path(tmp) / PARAMS_FILE)
    log.info(
        "BM25 index of %d passages (%d terms) written to %s",
        len(pool),
        len(retriever.vocab_dict),
        out_dir,
    )


class BM25Index:
    """A loaded bm25s index with its tokenisation settings (``params.json``)."""

    def __init__(self, retriever: bm25s.BM25, params: dict):
        self.retriever = retriever
        self.params = params

    @property
    def n_passages(self) -> int:
        return int(self.retriever.scores["num_docs"])

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokenise queries exactly as the pool was tokenised."""
        return tokenize(texts, self.params["stopwords"], self.params["stemmer"])

    def matched_scores(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Passages sharing a token with one tokenised query: (rows (M,) ascending, scores (M,)).

        A repeated query term counts again (as in rank_bm25).
        """
        vocab = self.retriever.vocab_dict
        tids = [vocab[t] for t in tokens if t in vocab]
        if not tids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        s = self.retriever.get_scores_from_ids(tids)
        indptr, indices = self.retriever.scores["indptr"], self.retriever.scores["indices"]
        matched = np.zeros(len(s), dtype=bool)
        for t in set(tids):
            matched[indices[indptr[t] : indptr[t + 1]]] = True
        rows = np.flatnonzero(matched)
        return rows, np.asarray(s[rows], dtype=np.float32)

    def topk_tokens(self, tokens: list[list[str]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (indices (Q, k) int64 padded -1, scores (Q, k) float32) for token lists."""
        idx = np.full((len(tokens), k), -1, dtype=np.int64)
        sc = np.full((len(tokens), k), -np.inf, dtype=np.float32)
        for r, toks in enumerate(tokens):
            rows, vals = self.matched_scores(toks)
            pos = top_positions(vals, k)
            idx[r, : len(pos)] = rows[pos]
            sc[r, : len(pos)] = vals[pos]
        return idx, sc

    def topk(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (indices (Q, k) int64 padded -1, scores (Q, k) float32) for query strings."""
        return self.topk_tokens(self.tokenize(queries), k)


def load_index(index_dir: str) -> BM25Index:
    """Load an index written by :func:`build_index`."""
    params = read_json(Path(index_dir) / PARAMS_FILE)
    retriever = bm25s.BM25.load(index_dir, show_progress=False)
    return BM25Index(retriever, params)


def search(
    index_dir: str,
    passages: str,
    queries: str,
    out: str,
    exclude_self: bool = True,
    run_file: str | None = None,
    *,
    topk: int,
) -> None:
    """BM25 top-k candidates for each example of ``queries``; writes the candidates table.

    Only passages sharing a token with the query are returned, so a query may get fewer
    than ``topk`` (an empty query gets none). With ``exclude_self`` the query's own
    demonstration (same content hash) never appears.
    """
    index = load_index(index_dir)
    pool = read_passages(passages)
    check_ids(index_dir, index.params["ids_sha1"], pool)
    qdf = read_queries(queries)
    tokens = index.tokenize(qdf["query"].astype(str).tolist())
    empty = [qid for qid, t in zip(qdf["query_id"], tokens, strict=True) if not t]
    if empty:
        log.warning(
            "%d queries have no indexable token and get no candidates (e.g. %s)",
            len(empty),
            empty[:5],
        )
    run_search(
        qdf,
        pool,
        lambda rows, k: index.topk_tokens([tokens[r] for r in rows], k),
        topk,
        exclude_self,
        out,
        run_file,
        run_name="llmr-bm25",
    )
    log.info("params: %s", json.dumps(index.params, sort_keys=True))
