"""Dense retrieval: encode the pool once, search it with FAISS (exact inner product by default).

An index folder holds ``embeddings.npy`` (N, H) float32, L2-normalised, rows aligned with
the passages table; ``ids.json`` (passage ids in that order); ``index.faiss``; and
``meta.json`` (encoder path and checkpoint fingerprint, pooling, prefixes, max length, index
type and parameters, and for approximate indexes the recall@k against exact search).

Queries and passages longer than the encoder's limit are truncated to their first
``max_length`` tokens (``max_length`` is itself capped at the model's position limit).
E5-style prefixes ("query: ", "passage: ") are the ``query_prefix`` / ``passage_prefix``
parameters. Candidate tables, self-exclusion and TREC files come from ``llmr.retrieval.bm25``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from llmr.core.io import atomic_path, read_json, write_json
from llmr.models.encoder import ENCODE_BATCH, encode_texts, load_encoder
from llmr.retrieval.candidates import (
    check_ids,
    ids_fingerprint,
    read_passages,
    read_queries,
    run_search,
    sort_hits,
)

log = logging.getLogger(__name__)

INDEX_TYPES = ("flat", "ivf", "hnsw")
HNSW_EF_SEARCH = 128
RECALL_SAMPLE = 1000
_CHECKPOINT_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model")
# FAISS computes exact inner products block by block with BLAS; its default block of 1024
# database vectors makes exact search ~2x slower than one large matmul on a CPU.
FAISS_BLAS_DATABASE_BS = 8192


def tune_faiss() -> None:
    """Raise FAISS's (process-global) BLAS database block size to ``FAISS_BLAS_DATABASE_BS``."""
    if faiss.cvar.distance_compute_blas_database_bs < FAISS_BLAS_DATABASE_BS:
        faiss.cvar.distance_compute_blas_database_bs = FAISS_BLAS_DATABASE_BS


def encoder_fingerprint(path: str) -> str:
    """sha1 of a local checkpoint's config, tokenizer and weight files (names + contents).

    A hub id without a local folder is fingerprinted by its name only (``hub:<id>``).
    """
    root = Path(path)
    if not root.is_dir():
        return f"hub:{path}"
    h = hashlib.sha1()
    for f in sorted(p for p in root.iterdir() if p.is_file() and p.suffix in _CHECKPOINT_SUFFIXES):
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def model_max_length(model, tokenizer, max_length: int) -> int:
    """``max_length`` capped at the tokenizer's and the model's position limits."""
    limits = [max_length, getattr(model.config, "max_position_embeddings", max_length)]
    tok_max = getattr(tokenizer, "model_max_length", None)
    if tok_max is not None and tok_max < 1_000_000:
        limits.append(int(tok_max))
    return min(limits)


def encode(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    prefix: str,
    pooling: str,
    max_length: int,
    batch_size: int = ENCODE_BATCH,
) -> np.ndarray:
    """Encode texts (prefix prepended, truncated to ``max_length`` tokens) into (N, H) float32."""
    return encode_texts(
        model,
        tokenizer,
        [str(t) for t in texts],
        batch_size=batch_size,
        max_length=model_max_length(model, tokenizer, max_length),
        pooling=pooling,
        normalize=True,
        prefix=prefix,
        progress=False,
    )


def make_faiss_index(
    emb: np.ndarray, index_type: str, nlist: int | None, nprobe: int, hnsw_m: int
) -> tuple[faiss.Index, dict]:
    """A FAISS inner-product index over ``emb`` (N, H) float32; returns (index, its params)."""
    n, dim = emb.shape
    if index_type == "flat":
        index, params = faiss.IndexFlatIP(dim), {}
    elif index_type == "ivf":
        nlist = nlist or max(1, min(int(4 * np.sqrt(n)), n // 39 or 1))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(emb)
        index.nprobe = min(nprobe, nlist)
        params = {"nlist": nlist, "nprobe": index.nprobe}
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = HNSW_EF_SEARCH
        params = {"hnsw_m": hnsw_m, "ef_search": HNSW_EF_SEARCH}
    else:
        raise ValueError(f"unknown index_type {index_type!r}; use one of {INDEX_TYPES}")
    index.add(emb)
    return index, params


def measure_recall(index: faiss.Index, emb: np.ndarray, k: int, seed: int = 0) -> float:
    """Mean |approx top-k ∩ exact top-k| / k, using a sample of pool vectors as queries."""
    n = len(emb)
    k = min(k, n)
    rng = np.random.default_rng(seed)
    sample = emb[np.sort(rng.choice(n, size=min(RECALL_SAMPLE, n), replace=False))]
    exact = faiss.IndexFlatIP(emb.shape[1])
    exact.add(emb)
    _, truth = exact.search(sample, k)
    _, approx = index.search(sample, k)
    return float(np.mean([len(set(t) & set(a)) / k for t, a in zip(truth, approx, strict=True)]))


def _encode_logged(model, tok, texts, what: str, prefix: str, pooling: str, max_length: int):
    """:func:`encode` of a column of ``texts`` (N,) -> (N, H), its time logged."""
    t0 = time.perf_counter()
    emb = encode(model, tok, texts.tolist(), prefix=prefix, pooling=pooling, max_length=max_length)
    log.info("encoded %d %s in %.1fs", len(emb), what, time.perf_counter() - t0)
    return emb


def build_index(
    encoder: str,
    passages: str,
    out_dir: str,
    index_type: str = "flat",
    *,
    pooling: str,
    passage_prefix: str,
    max_length: int,
    nlist: int | None = None,
    nprobe: int = 16,
    hnsw_m: int = 32,
    recall_k: int = 10,
) -> None:
    """Encode the pool with ``encoder`` and write a FAISS index folder to ``out_dir``.
    ``pooling`` and ``passage_prefix`` have no defaults (the config's ``models`` section), nor
    ``max_length``: the tokens the retriever was trained on (its training section's)."""
    if index_type not in INDEX_TYPES:
        raise ValueError(f"unknown index_type {index_type!r}; use one of {INDEX_TYPES}")
    pool = read_passages(passages)
    model, tok = load_encoder(encoder)
    emb = _encode_logged(
        model, tok, pool["contents"], "passages", passage_prefix, pooling, max_length
    )
    index, params = make_faiss_index(emb, index_type, nlist, nprobe, hnsw_m)
    meta = {
        "encoder": str(encoder),
        "encoder_fingerprint": encoder_fingerprint(encoder),
        "pooling": pooling,
        "max_length": model_max_length(model, tok, max_length),
        "passage_prefix": passage_prefix,
        "normalized": True,
        "index_type": index_type,
        "index_params": params,
        "n_passages": len(pool),
        "dim": int(emb.shape[1]),
        "ids_sha1": ids_fingerprint(pool["id"].tolist()),
        "faiss_version": faiss.__version__,
    }
    if index_type != "flat":
        meta[f"recall_at_{recall_k}"] = measure_recall(index, emb, recall_k)
        meta["recall_k"] = recall_k
        log.info(
            "%s recall@%d vs exact search: %.3f",
            index_type,
            recall_k,
            meta[f"recall_at_{recall_k}"],
        )
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.save(tmp / "embeddings.npy", emb)
        write_json(pool["id"].astype(str).tolist(), tmp / "ids.json")
        faiss.write_index(index, str(tmp / "index.faiss"))
        write_json(meta, tmp / "meta.json")
    log.info("dense %s index of %d passages written to %s", index_type, len(pool), out_dir)


def load_index(index_dir: str) -> tuple[faiss.Index, dict]:
    """Load (FAISS index, meta) written by :func:`build_index`; search settings restored."""
    meta = read_json(Path(index_dir) / "meta.json")
    index = faiss.read_index(str(Path(index_dir) / "index.faiss"))
    params = meta.get("index_params", {})
    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = params["nprobe"]
    if "ef_search" in params:
        index.hnsw.efSearch = params["ef_search"]
    return index, meta


def faiss_topk(index: faiss.Index, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of queries ``q`` (Q, H): (indices (Q, k) int64, -1 padded; scores (Q, k) float32).

    Rows are ordered best first with ties broken by lower passage row.
    """
    tune_faiss()
    scores, idx = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
    scores = np.where(idx < 0, -np.inf, scores).astype(np.float32)
    return sort_hits(idx.astype(np.int64), scores)


def search(
    index_dir: str,
    encoder: str,
    passages: str,
    queries: str,
    out: str,
    exclude_self: bool = True,
    *,
    topk: int,
    query_prefix: str,
    pooling: str,
    max_length: int,
    run_file: str | None = None,
) -> None:
    """Dense top-k candidates for each example of ``queries``; writes the candidates table.

    ``encoder`` and ``pooling`` must be those the index was built with (checked against
    ``meta.json``). An empty query string is encoded as is (special tokens only) and still
    gets ``topk`` candidates. ``topk``, ``query_prefix``, ``pooling`` and ``max_length``
    have no defaults (the rule's, from the config; ``max_length`` as in :func:`build_index`).
    """
    index, meta = load_index(index_dir)
    if encoder_fingerprint(encoder) != meta["encoder_fingerprint"]:
        raise ValueError(
            f"{index_dir}: built with encoder {meta['encoder']}, not {encoder} "
            "(checkpoint fingerprints differ); rebuild the index"
        )
    if pooling != meta["pooling"]:
        raise ValueError(f"{index_dir}: built with {meta['pooling']} pooling, not {pooling}")
    pool = read_passages(passages)
    check_ids(index_dir, meta["ids_sha1"], pool)
    qdf = read_queries(queries)
    model, tok = load_encoder(encoder)
    q_emb = _encode_logged(model, tok, qdf["query"], "queries", query_prefix, pooling, max_length)
    run_search(
        qdf,
        pool,
        lambda rows, k: faiss_topk(index, q_emb[rows], k),
        topk,
        exclude_self,
        out,
        run_file,
        run_name=f"llmr-dense-{meta['index_type']}",
    )
