"""Few-shot prompts for the test queries: zero-shot, random, retrieved or k-means demos.

Layout (docs/METHOD.md, "Evaluation"): demonstrations' contents joined by blank lines, a blank
line, the query, a newline; the most relevant demonstration comes last, nearest the query.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from llmr.core.io import read_parquet, read_table, write_parquet
from llmr.core.records import CLASSIFICATION, content_hash, gold_text, passage_label, query_hash

log = logging.getLogger(__name__)

METHODS = ("zero_shot", "random", "retrieved", "kmeans")
OTHER_TASK_PENALTY = 100.0
VARIANTS = ("task_filter", "no_filter")
PROMPT_COLUMNS = (
    "query_id",
    "task_name",
    "prompt",
    "demo_ids",
    "demo_scores",
    "demo_task_match",
    "demo_label_match",
)


def format_prompt(demos: Sequence[str], query: str) -> str:
    """Demonstrations (least relevant first) joined by blank lines, a blank line, the query."""
    if not demos:
        return f"{query}\n"
    return "\n\n".join(demos) + f"\n\n{query}\n"


def _own_hash(row: pd.Series) -> str | None:
    try:
        return query_hash(row["query"], row["answers"], row["options"])
    except ValueError:
        return None


def _random_demos(row: pd.Series, pool: pd.DataFrame, k: int, seed: int, variant: str) -> list[int]:
    """Row indices of k random pool passages (same task under task_filter), self excluded."""
    cand = pool if variant == "no_filter" else pool[pool["task_name"] == row["task_name"]]
    own = _own_hash(row)
    idx = [i for i, h in zip(cand.index, cand["_hash"], strict=True) if h != own]
    rng = random.Random(f"{seed}:{row['query_id']}")
    return rng.sample(idx, min(k, len(idx)))


def _retrieved_demos(
    row: pd.Series,
    cand: dict[str, tuple[list[str], list[float]]],
    id_to_row: dict[str, int],
    pool: pd.DataFrame,
    k: int,
    variant: str,
    n_retrieve_factor: int,
) -> tuple[list[int], list[float]]:
    """Top-k candidates (from the first n_retrieve_factor·k), best first.

    task_filter: candidates of the query's task come first; when fewer than k of them are
    among the n_retrieve_factor·k retrieved, the best other-task candidates fill up the k
    slots with their score lowered by ``OTHER_TASK_PENALTY`` (as the paper's reference code
    does: it subtracts 100 from other-task scores and re-sorts), so every prompt has k
    demonstrations whenever the retrieved list holds k besides the query itself.
    """
    if row["query_id"] not in cand:
        raise ValueError(f"candidates have no row for query {row['query_id']!r}")
    ids, scores = cand[row["query_id"]]
    own = _own_hash(row)
    same: list[tuple[int, float]] = []
    other: list[tuple[int, float]] = []
    for doc_id, score in list(zip(ids, scores, strict=True))[: n_retrieve_factor * k]:
        i = id_to_row.get(str(doc_id))
        if i is None:
            raise ValueError(f"candidate {doc_id!r} of {row['query_id']!r} is not in passages")
        if pool.at[i, "_hash"] == own:
            continue
        if variant == "task_filter" and pool.at[i, "task_name"] != row["task_name"]:
            other.append((i, float(score) - OTHER_TASK_PENALTY))
        else:
            same.append((i, float(score)))
    chosen = (same + other)[:k]
    return [i for i, _ in chosen], [s for _, s in chosen]


def _sqdist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (N, K) between rows of x (N, H) and c (K, H)."""
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


KMEANS_ITERATIONS = 50


def kmeans_demos(x: np.ndarray, k: int, seed: int) -> list[int]:
    """Positions (into rows of ``x``) of the distinct items nearest to each of k centroids.

    Centroids come from ``faiss.Kmeans`` (seeded, all rows used, no subsampling); k is
    capped at the number of rows.
    """
    if len(x) == 0 or k <= 0:
        return []
    n = len(x)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    km = faiss.Kmeans(
        x32.shape[1],
        min(k, n),
        niter=KMEANS_ITERATIONS,
        seed=seed,
        verbose=False,
        min_points_per_centroid=1,
        max_points_per_centroid=n,
    )
    km.train(x32)
    c = km.centroids.astype(np.float64)
    dist = _sqdist(np.asarray(x, dtype=np.float64), c)  # (N, k)
    chosen: list[int] = []
    for j in range(c.shape[0]):
        for i in np.argsort(dist[:, j], kind="stable"):
            if int(i) not in chosen:
                chosen.append(int(i))
                break
    return chosen


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def _embed_queries(embeddings: str, queries: list[str], prefix: str) -> np.ndarray | None:
    """(M, H) query embeddings with the encoder of the index folder holding ``embeddings``."""
    meta_file = Path(embeddings).parent / "meta.json"
    if not meta_file.exists():
        log.warning(
            "%s has no meta.json: k-means demos ordered by cluster size, not by "
            "similarity to the query",
            embeddings,
        )
        return None
    from llmr.models.encoder import load_encoder
    from llmr.retrieval.index import encode

    meta = json.loads(meta_file.read_text())
    model, tok = load_encoder(meta["encoder"])
    emb = encode(
        model, tok, queries, prefix=prefix, pooling=meta["pooling"], max_length=meta["max_length"]
    )
    log.info("embedded %d test queries with %s for k-means ordering", len(queries), meta["encoder"])
    return _normalize(emb)


def _demo_stats(row: pd.Series, demo_rows: list[int], pool: pd.DataFrame, task_type: str):
    if not demo_rows:
        return float("nan"), float("nan")
    task_match = float(np.mean([pool.at[i, "task_name"] == row["task_name"] for i in demo_rows]))
    if task_type != CLASSIFICATION:
        return task_match, float("nan")
    gold = gold_text(row["answers"], row["options"], str(row["query_id"])).strip()
    labels = [passage_label(pool.at[i, "contents"]) == gold for i in demo_rows]
    return task_match, float(np.mean(labels))


def build_prompts(
    test: str,
    passages: str,
    tasks: str,
    out: str,
    method: str,
    candidates: str | None = None,
    *,
    k: int,
    seed: int,
    n_retrieve_factor: int,
    query_prefix: str,
    variant: str = "task_filter",
    embeddings: str | None = None,
    query_embeddings: str | None = None,
) -> None:
    """Write the prompts table (``PROMPT_COLUMNS``) for every test query.

    ``method``: zero_shot | random | retrieved (needs ``candidates``) | kmeans (needs
    ``embeddings``, an (N, H) .npy aligned with the passages table). ``variant``:
    task_filter keeps only demos of the query's task (gold task name as an oracle),
    no_filter keeps all. k-means demos are ordered by cosine similarity to the query
    (most similar last): query embeddings come from ``query_embeddings`` (an (M, H) .npy
    aligned with the test table) or, when ``embeddings`` lies in an index folder with a
    ``meta.json`` (``llmr.retrieval.index.build_index``), are computed with that index's encoder,
    pooling and max length (``query_prefix`` prepended). Without either, they are ordered by
    the size of their cluster (largest last) and a warning says so. ``demo_scores`` holds
    the retriever's scores (retrieved; other-task fill-ups under task_filter carry the
    -100 penalty), cosine similarity to the query (kmeans) or NaN.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (one of {METHODS})")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (one of {VARIANTS})")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    test_df = read_table(test).reset_index(drop=True)
    pool = read_table(passages).reset_index(drop=True)
    pool["id"] = pool["id"].astype(str)
    pool["_hash"] = [content_hash(c) for c in pool["contents"]]
    types = dict(zip(*(read_parquet(tasks)[c] for c in ("task_name", "task_type")), strict=True))
    id_to_row = {pid: i for i, pid in enumerate(pool["id"])}

    cand: dict[str, tuple[list[str], list[float]]] = {}
    if method == "retrieved":
        if candidates is None:
            raise ValueError("method 'retrieved' needs a candidates table")
        cdf = read_table(candidates)
        cand = {
            str(q): (list(ids), [float(s) for s in sc])
            for q, ids, sc in zip(cdf["query_id"], cdf["doc_ids"], cdf["doc_scores"], strict=True)
        }

    km_sets: dict[str, list[int]] = {}
    q_emb = p_emb = None
    if method == "kmeans":
        if embeddings is None:
            raise ValueError("method 'kmeans' needs pool embeddings (.npy)")
        p_emb = _normalize(np.load(embeddings))
        if p_emb.shape[0] != len(pool):
            raise ValueError(
                f"{embeddings}: {p_emb.shape[0]} rows but {len(pool)} passages (must align)"
            )
        if query_embeddings is None:
            q_emb = _embed_queries(embeddings, test_df["query"].tolist(), query_prefix)
        else:
            q_emb = _normalize(np.load(query_embeddings))
        if q_emb is not None:
            if q_emb.shape[0] != len(test_df):
                raise ValueError(f"{query_embeddings}: {q_emb.shape[0]} rows, {len(test_df)} tests")
        groups = (
            {"": np.arange(len(pool))}
            if variant == "no_filter"
            else {t: np.flatnonzero(pool["task_name"].to_numpy() == t) for t in types}
        )
        for name, rows in groups.items():
            pos = kmeans_demos(p_emb[rows], k, seed)
            sizes = (
                np.bincount(_sqdist(p_emb[rows], p_emb[rows][pos]).argmin(1), minlength=len(pos))
                if pos
                else np.zeros(0)
            )
            # best first: largest cluster first; reversed below so it ends up last
            km_sets[name] = [int(rows[pos[j]]) for j in np.argsort(-sizes, kind="stable")]

    records = []
    for qi, row in test_df.iterrows():
        scores: list[float] = []
        if method == "zero_shot" or k == 0:
            demo_rows: list[int] = []
        elif method == "random":
            demo_rows = _random_demos(row, pool, k, seed, variant)
            scores = [float("nan")] * len(demo_rows)
        elif method == "retrieved":
            demo_rows, scores = _retrieved_demos(
                row, cand, id_to_row, pool, k, variant, n_retrieve_factor
            )
        else:
            demo_rows = list(km_sets["" if variant == "no_filter" else row["task_name"]])
            if q_emb is not None and demo_rows:
                sims = p_emb[demo_rows] @ q_emb[qi]
                order = np.argsort(-sims, kind="stable")
                demo_rows = [demo_rows[j] for j in order]
                scores = [float(sims[j]) for j in order]
            else:
                scores = [float("nan")] * len(demo_rows)
        if method in ("retrieved", "kmeans"):  # best first → most relevant last
            demo_rows, scores = demo_rows[::-1], scores[::-1]
        task_match, label_match = _demo_stats(row, demo_rows, pool, types.get(row["task_name"], ""))
        records.append(
            {
                "query_id": str(row["query_id"]),
                "task_name": row["task_name"],
                "prompt": format_prompt([pool.at[i, "contents"] for i in demo_rows], row["query"]),
                "demo_ids": [pool.at[i, "id"] for i in demo_rows],
                "demo_scores": scores,
                "demo_task_match": task_match,
                "demo_label_match": label_match,
            }
        )
    df = pd.DataFrame(records, columns=list(PROMPT_COLUMNS))
    n_short = int((df["demo_ids"].map(len) < k).sum()) if method != "zero_shot" else 0
    if n_short:
        log.warning("%d of %d queries got fewer than %d demonstrations", n_short, len(df), k)
    log.info("built %d %s prompts (variant %s, k=%d)", len(df), method, variant, k)
    write_parquet(df, out)
