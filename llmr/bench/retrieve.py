"""``llmr bench retrieve``: retrieval speed and agreement, measured in one process.

Two pools: (a) the default suite's pool (real encoder embeddings) and (b) a pool of at least
``--large-pool-size`` passages built from BIG-bench tasks (random L2-normalised embeddings
of the encoder's dimension for the dense part, since encoding it on a CPU takes minutes).

* BM25: bm25s (llmr.retrieval.bm25's search path) vs rank_bm25 ``BM25Okapi``, both fed the SAME
  token lists (bm25s's tokenizer) with k1/b equal, bm25s method ``robertson`` and
  rank_bm25 ``epsilon=0`` (the same idf, negative idf clipped to 0). Both return the top-k
  among passages sharing a token with the query, ties broken by row index. rank_bm25 is
  slow, so it is timed on a subset of the queries; the overlap is measured on that subset.
* Dense: FAISS ``IndexFlatIP`` vs a torch matrix product + ``torch.topk`` on the same
  embeddings and query batches.

Overlap = mean over queries of |A ∩ B| / k. Timings: best of ``--repeats`` runs.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import bm25s
import faiss
import numpy as np
import pandas as pd
import torch

from llmr.core.io import write_json
from llmr.retrieval.bm25 import BM25Index, tokenize
from llmr.retrieval.candidates import read_passages, read_queries, topk_rows
from llmr.retrieval.index import tune_faiss

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
LARGE_TASKS = (
    "qa_wikidata",
    "cryptonite",
    "formal_fallacies_syllogisms_negation",
    "hyperbaton",
    "vitaminc_fact_verification",
    "movie_dialog_same_or_different",
    "ascii_word_recognition",
)
SUMMARY_KEYS = (
    "bm25s_qps",
    "rank_bm25_qps",
    "bm25_speedup",
    "faiss_qps",
    "torch_qps",
    "dense_speedup",
    "bm25_topk_overlap",
    "dense_topk_overlap",
)


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time (s) of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Mean |A ∩ B| / k over rows of index arrays (Q, k) (-1 = no hit; k shrinks to hits)."""
    vals = []
    for x, y in zip(a, b, strict=True):
        x, y = set(x[x >= 0].tolist()), set(y[y >= 0].tolist())
        denom = min(k, max(len(x), len(y)))
        vals.append(len(x & y) / denom if denom else 1.0)
    return float(np.mean(vals)) if vals else float("nan")


def bench_bm25(
    pool: Sequence[str],
    queries: Sequence[str],
    k: int,
    n_rank: int,
    repeats: int,
    k1: float = 1.5,
    b: float = 0.75,
) -> dict:
    """bm25s vs rank_bm25 on the same tokens: qps (from tokens to top-k) and top-k overlap."""
    from rank_bm25 import BM25Okapi

    t0 = time.perf_counter()
    doc_tokens = tokenize(pool)
    q_tokens = tokenize(queries)
    tok_s = time.perf_counter() - t0
    retriever = bm25s.BM25(k1=k1, b=b, method="robertson")
    t0 = time.perf_counter()
    retriever.index(doc_tokens, show_progress=False)
    bm25s_index_s = time.perf_counter() - t0
    index = BM25Index(retriever, {"stopwords": "en", "stemmer": None})
    t0 = time.perf_counter()
    okapi = BM25Okapi(doc_tokens, k1=k1, b=b, epsilon=0.0)
    rank_index_s = time.perf_counter() - t0
    postings: dict[str, list[int]] = {}
    for i, toks in enumerate(doc_tokens):
        for t in set(toks):
            postings.setdefault(t, []).append(i)

    def rank_topk(qs: list[list[str]]) -> np.ndarray:
        out = np.full((len(qs), k), -1, dtype=np.int64)
        for r, toks in enumerate(qs):
            s = okapi.get_scores(toks)
            matched = np.zeros(len(s), dtype=bool)
            for t in set(toks):
                matched[postings.get(t, [])] = True
            out[r] = topk_rows(np.where(matched, s, -np.inf)[None], k)[0][0]
        return out

    sub = q_tokens[:n_rank]
    bm25s_s = best_time(lambda: index.topk_tokens(q_tokens, k), repeats)
    native_s = best_time(
        lambda: retriever.retrieve(
            q_tokens, k=min(k, len(pool)), show_progress=False, return_as="tuple"
        ),
        repeats,
    )
    rank_s = best_time(lambda: rank_topk(sub), 1)
    a = index.topk_tokens(sub, k)[0]
    bm25s_qps, rank_qps = len(q_tokens) / bm25s_s, len(sub) / rank_s
    return {
        "bm25s_qps": bm25s_qps,
        "bm25s_native_retrieve_qps": len(q_tokens) / native_s,
        "rank_bm25_qps": rank_qps,
        "bm25_speedup": bm25s_qps / rank_qps,
        "bm25_topk_overlap": overlap(a, rank_topk(sub), k),
        "bm25_queries": len(q_tokens),
        "rank_bm25_queries": len(sub),
        "tokenize_s": tok_s,
        "bm25s_index_s": bm25s_index_s,
        "rank_bm25_index_s": rank_index_s,
        "bm25_params": {
            "k1": k1,
            "b": b,
            "bm25s_method": "robertson",
            "rank_bm25_epsilon": 0.0,
            "tokenizer": "bm25s.tokenize, English stopwords, no stemmer",
        },
    }


def bench_dense(emb: np.ndarray, q: np.ndarray, k: int, repeats: int, batch: int = 1024) -> dict:
    """FAISS IndexFlatIP vs torch matmul + topk on (N, H) pool and (Q, H) queries.

    Both see the same query batches (``batch``, as ``llmr.retrieval.index.search`` uses); FAISS runs
    with the BLAS block size ``llmr.retrieval.index`` sets.
    """
    k = min(k, len(emb))
    tune_faiss()
    index = faiss.IndexFlatIP(emb.shape[1])
    index.add(emb)
    pool_t = torch.from_numpy(emb)
    batches = [np.ascontiguousarray(q[i : i + batch]) for i in range(0, len(q), batch)]

    def run_faiss() -> np.ndarray:
        return np.concatenate([index.search(x, k)[1] for x in batches])

    @torch.no_grad()
    def run_torch() -> np.ndarray:
        return np.concatenate(
            [torch.topk(torch.from_numpy(x) @ pool_t.T, k, dim=1).indices.numpy() for x in batches]
        )

    faiss_s = best_time(run_faiss, repeats)
    torch_s = best_time(run_torch, repeats)
    return {
        "faiss_qps": len(q) / faiss_s,
        "torch_qps": len(q) / torch_s,
        "dense_speedup": torch_s / faiss_s,
        "dense_topk_overlap": overlap(run_faiss(), run_torch(), k),
        "dense_queries": len(q),
        "dense_query_batch": batch,
        "dim": int(emb.shape[1]),
        "faiss_threads": faiss.omp_get_max_threads(),
        "faiss_blas_database_bs": int(faiss.cvar.distance_compute_blas_database_bs),
        "torch_threads": torch.get_num_threads(),
    }


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(n, dim) float32 rows drawn from a Gaussian and L2-normalised."""
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def large_pool(
    bigbench_dir: str, tasks: Sequence[str], size: int, n_queries: int, seed: int
) -> tuple[list[str], list[str], dict]:
    """(pool texts, query texts, info): ``size`` passages from BIG-bench tasks' train splits,
    queries from their test splits; tasks are added in order until the pool is large enough.
    """
    from llmr.data.tasks import load_bigbench_tasks

    root = Path(bigbench_dir)
    chosen, parts, tests, total = [], [], [], 0
    for task in tasks:
        if total >= size:
            break
        if not (root / task / "task.json").exists():
            log.warning("BIG-bench task %s not found under %s; skipped", task, root)
            continue
        train, test, passages, _ = load_bigbench_tasks(str(root), [task], seed, 0.1, None, None, {})
        chosen.append(task)
        parts.append(passages)
        tests.append(test)
        total += len(passages)
    if total < size:
        raise ValueError(f"BIG-bench tasks {list(tasks)} give {total} passages < {size}")
    rng = np.random.default_rng(seed)
    pool = pd.concat(parts, ignore_index=True)
    pool = pool.iloc[np.sort(rng.choice(len(pool), size, replace=False))]
    test = pd.concat(tests, ignore_index=True)
    q = test.iloc[rng.choice(len(test), min(n_queries, len(test)), replace=False)]
    info = {
        "tasks": chosen,
        "n_passages": len(pool),
        "n_queries": len(q),
        "queries_from": "test splits of the same tasks",
    }
    return pool["contents"].tolist(), q["query"].tolist(), info


def default_pool(
    pool_parquet: str, queries_parquet: str, encoder: str, n_queries: int, seed: int
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, dict]:
    """(pool texts, query texts, pool embeddings (N, H), query embeddings (Q, H), info)."""
    from llmr.core.schema import section_defaults
    from llmr.models.encoder import load_encoder
    from llmr.retrieval.index import encode

    pool = read_passages(pool_parquet)["contents"].astype(str).tolist()
    qdf = read_queries(queries_parquet)
    rng = np.random.default_rng(seed)
    qdf = qdf.iloc[np.sort(rng.choice(len(qdf), min(n_queries, len(qdf)), replace=False))]
    queries = qdf["query"].astype(str).tolist()
    model, tok = load_encoder(encoder)
    t0 = time.perf_counter()
    models = section_defaults("models")  # the default pipeline's dense index and search
    enc = {"pooling": models["pooling"], "max_length": section_defaults("retriever")["max_length"]}
    emb = encode(model, tok, pool, prefix=models["passage_prefix"], **enc)
    q_emb = encode(model, tok, queries, prefix=models["query_prefix"], **enc)
    info = {
        "pool": pool_parquet,
        "queries_from": queries_parquet,
        "n_passages": len(pool),
        "n_queries": len(queries),
        "encoder": encoder,
        "embeddings": f"real encoder embeddings ({models['pooling']} pooling, L2-normalised)",
        "encode_s": time.perf_counter() - t0,
    }
    return pool, queries, emb, q_emb, info


def bench_retrieve_command(
    *,
    json_out: str,
    pool_parquet: str,
    queries_parquet: str,
    encoder: str,
    bigbench_dir: str,
    bigbench_sdist: str,
    bigbench_tasks: Sequence[str],
    large_pool_size: int,
    queries: int,
    rank_bm25_queries: int,
    topk: int,
    repeats: int,
    seed: int,
) -> int:
    """``llmr bench retrieve``: run the benchmark; write the JSON (summary = large pool, plus
    ``pools`` breakdown)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    pools: dict[str, dict] = {}

    pool, texts, emb, q_emb, info = default_pool(
        pool_parquet, queries_parquet, encoder, queries, seed
    )
    log.info("default pool: %d passages, %d queries", len(pool), len(texts))
    pools["default"] = {
        **info,
        **bench_bm25(pool, texts, topk, rank_bm25_queries, repeats),
        **bench_dense(emb, q_emb, topk, repeats),
    }
    dim = emb.shape[1]
    del emb, q_emb

    missing = [t for t in bigbench_tasks if not (Path(bigbench_dir) / t / "task.json").exists()]
    if missing and Path(bigbench_sdist).exists():
        import tempfile

        from llmr.data.resources import extract_bigbench

        bigbench_dir = str(Path(tempfile.mkdtemp(prefix="llmr-bench-")) / "bigbench")
        extract_bigbench(bigbench_sdist, bigbench_tasks, bigbench_dir)
    pool, texts, info = large_pool(bigbench_dir, bigbench_tasks, large_pool_size, queries, seed)
    log.info("large pool: %d passages from %s, %d queries", len(pool), info["tasks"], len(texts))
    rng = np.random.default_rng(seed)
    info["embeddings"] = f"random L2-normalised vectors of the encoder's dimension ({dim})"
    pools["large"] = {
        **info,
        **bench_bm25(pool, texts, topk, rank_bm25_queries, repeats),
        **bench_dense(
            random_unit(len(pool), dim, rng),
            random_unit(len(texts), dim, rng),
            topk,
            repeats,
        ),
    }
    result = {key: pools["large"][key] for key in SUMMARY_KEYS}
    result.update(
        pools=pools,
        topk=topk,
        summary_pool="large",
        notes=(
            f"top-level numbers are for the large pool ({pools['large']['n_passages']} "
            f"passages); rank_bm25 is timed on the first {rank_bm25_queries} queries "
            "only and the BM25 overlap is measured on them; the large pool's dense timing "
            "uses random normalised embeddings; qps = queries/s from tokens (BM25) or "
            f"embeddings (dense) to top-{topk}, best of {repeats} runs; FAISS "
            "runs with llmr.retrieval.index.tune_faiss (BLAS database block 8192 instead of 1024)"
        ),
        machine={
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "bm25s": bm25s.__version__,
            "faiss": faiss.__version__,
            "torch": torch.__version__,
        },
        targets={
            "bm25_speedup": ">= 50",
            "dense_speedup": ">= 1",
            "dense_topk_overlap": "1.0",
            "bm25_topk_overlap": ">= 0.95",
        },
    )
    write_json(result, json_out)
    log.info("summary: %s", {k: round(v, 3) for k, v in result.items() if k in SUMMARY_KEYS})
    return 0


if __name__ == "__main__":
    import sys

    from llmr.cli import main

    raise SystemExit(main(["bench", "retrieve", *sys.argv[1:]]))
