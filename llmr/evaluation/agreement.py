"""Agreement of cheap scorers with the LLM scores on held-back training queries.

For every held-back query of an LLM-score file (the same hash rule as training, so neither
the reward model nor the retriever saw it) each scorer scores the same candidate list:

- ``random``: seeded uniform scores (chance level);
- ``bm25``: the BM25 candidates file's ``doc_scores`` for the same doc ids (queries whose
  candidates are not all found there are skipped);
- ``base_encoder``: cosine similarity under the untrained init encoder;
- ``reward``: the reward model (cross-encoder) score;
- ``retriever``: cosine similarity under the distilled retriever.

Metrics, averaged over queries (``n`` = queries counted):

- ``spearman``: Spearman rank correlation with the LLM scores (queries where either side is
  constant are skipped);
- ``ndcg@3``: the LLM scores become graded relevance by rank: the LLM's best candidate
  gets relevance 3, the 2nd 2, the 3rd 1, all others 0 (and 0 for any candidate with a
  penalised score <= -100); gain = 2^rel - 1, discount 1/log2(1 + position); ties in a
  scorer's ranking keep candidate order. Queries without any relevant candidate are skipped;
- ``top1``: the fraction of queries whose top candidate under the scorer is one the LLM
  ranks best (its highest score).

Every metric is reported over all held-back queries (``task`` = ``all``) and per task.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from llmr.core.io import atomic_path, read_table
from llmr.core.records import CLASSIFICATION, CROSS_TASK_PENALTY, gold_text, passage_label
from llmr.models.cross_encoder import score_pairs
from llmr.models.encoder import encode_texts, load_encoder
from llmr.training.groups import PassagePool, heldback_mask, merge_scored
from llmr.training.reward import load_reward_model, reward_query_text

log = logging.getLogger(__name__)

NDCG_K = 3
COLUMNS = ["round", "scorer", "metric", "value", "n", "task"]


def rank_relevance(llm: np.ndarray, k: int = NDCG_K) -> np.ndarray:
    """(K,) graded relevance from LLM scores: k for the best, k-1 for the 2nd, ... 0 beyond
    the top k; 0 for penalised scores (<= -100)."""
    llm = np.asarray(llm, dtype=np.float64)
    rel = np.zeros(len(llm))
    order = np.argsort(-llm, kind="stable")
    for r, j in enumerate(order[:k]):
        rel[j] = k - r
    rel[llm <= CROSS_TASK_PENALTY] = 0.0
    return rel


def ndcg_at_k(scores: np.ndarray, rel: np.ndarray, k: int = NDCG_K) -> float:
    """NDCG@k of ranking by ``scores`` (K,) against graded relevance ``rel`` (K,); NaN when
    no candidate is relevant."""
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    gains = 2.0 ** np.asarray(rel, dtype=np.float64) - 1.0
    ideal = np.sort(gains)[::-1][:k]
    idcg = float((ideal * disc[: len(ideal)]).sum())
    if idcg <= 0:
        return float("nan")
    top = gains[np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]]
    return float((top * disc[: len(top)]).sum()) / idcg


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two (K,) score vectors; NaN if either is constant."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def top1(scores: np.ndarray, llm: np.ndarray) -> float:
    """1.0 if the scorer's top candidate (first on ties) has the LLM's best score, else 0."""
    if len(llm) == 0:
        return float("nan")
    return float(llm[int(np.argmax(np.asarray(scores, dtype=np.float64)))] >= np.max(llm))


def _split(flat: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    bounds = np.cumsum([0, *sizes])
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _cosine_scores(
    model_path: str,
    queries: list[str],
    docs: list[np.ndarray],
    pool: PassagePool,
    pooling: str,
    query_prefix: str,
    passage_prefix: str,
    max_length: int,
) -> list[np.ndarray]:
    """Per query (K_i,) cosine similarities under the encoder at ``model_path`` (texts cut to
    ``max_length`` tokens)."""
    model, tok = load_encoder(model_path)
    enc = {"pooling": pooling, "max_length": max_length}
    q = encode_texts(model, tok, queries, prefix=query_prefix, desc="queries", **enc)
    need = np.unique(np.concatenate(docs)) if docs else np.zeros(0, dtype=np.int64)
    passages = [pool.contents[i] for i in need]
    p = encode_texts(model, tok, passages, prefix=passage_prefix, desc="passages", **enc)
    where = {int(d): j for j, d in enumerate(need)}
    return [p[[where[int(d)] for d in ds]] @ q[i] for i, ds in enumerate(docs)]


def agreement(
    round: int,
    scores: str,
    passages: str,
    base_encoder: str,
    reward_model: str,
    retriever: str,
    out: str,
    *,
    heldback_fraction: float,
    pooling: str,
    query_prefix: str,
    passage_prefix: str,
    encode_length: int,
    max_length: int,
    token_budget: int,
    precision: str,
    bm25_candidates: str | None = None,
) -> None:
    """Write a CSV (round, scorer, metric, value, n) of each scorer's agreement with the
    LLM scores of ``scores`` on its held-back training queries. The reward model scores
    pairs as the teacher does (``max_length``, ``token_budget``, ``precision``: the rule
    reward_score's values); the encoders cut texts to ``encode_length`` tokens, the
    retriever's training length."""
    df = merge_scored([scores])
    df = df[heldback_mask(list(df["query_id"]), heldback_fraction)].reset_index(drop=True)
    df = df[[len(d) > 0 for d in df["doc_ids"]]].reset_index(drop=True)
    pool = PassagePool.load(passages)
    docs = [
        pool.lookup(d, f"{scores}: query {q}")
        for q, d in zip(df["query_id"], df["doc_ids"], strict=True)
    ]
    llm = [np.asarray(s, dtype=np.float64) for s in df["doc_scores"]]
    sizes = [len(d) for d in docs]
    log.info("agreement round %d: %d held-back queries", round, len(df))

    scorers: dict[str, list[np.ndarray | None]] = {}
    rng = np.random.default_rng(0)
    scorers["random"] = [rng.random(n) for n in sizes]
    if bm25_candidates:
        cand = read_table(bm25_candidates)
        lookup = {
            str(q): dict(zip(map(str, d), map(float, s), strict=True))
            for q, d, s in zip(cand["query_id"], cand["doc_ids"], cand["doc_scores"], strict=True)
        }
        bm25: list[np.ndarray | None] = []
        for q, ids in zip(df["query_id"], df["doc_ids"], strict=True):
            found = lookup.get(str(q), {})
            bm25.append(
                np.asarray([found[d] for d in ids]) if all(d in found for d in ids) else None
            )
        scorers["bm25"] = bm25
    if len(df):
        queries = [str(q) for q in df["query"]]
        encoding = (pooling, query_prefix, passage_prefix, encode_length)
        scorers["base_encoder"] = list(_cosine_scores(base_encoder, queries, docs, pool, *encoding))
        model, tok = load_reward_model(reward_model)
        firsts, seconds = [], []
        for rec, ds in zip(df.to_dict("records"), docs, strict=True):
            text = reward_query_text(rec["query"], gold_text(rec["answers"], rec["options"]))
            firsts += [text] * len(ds)
            seconds += [pool.contents[i] for i in ds]
        scorers["reward"] = _split(
            score_pairs(
                model,
                tok,
                firsts,
                seconds,
                max_length,
                token_budget,
                desc="agreement",
                precision=precision,
            ),
            sizes,
        )
        del model
        scorers["retriever"] = list(_cosine_scores(retriever, queries, docs, pool, *encoding))
    else:
        for name in ("base_encoder", "reward", "retriever"):
            scorers[name] = []
        log.warning(
            "agreement: no held-back queries in %s (heldback_fraction=%s)",
            scores,
            heldback_fraction,
        )

    rows = []
    tasks = [str(t) for t in df["task_name"]]
    for name, per_query in scorers.items():
        per: dict[str, dict[str, list[float]]] = {}
        for s, l_, t in zip(per_query, llm, tasks, strict=False):
            if s is None:
                continue
            s = np.asarray(s, dtype=np.float64)
            vals = {
                "spearman": spearman(s, l_),
                f"ndcg@{NDCG_K}": ndcg_at_k(s, rank_relevance(l_)),
                "top1": top1(s, l_),
            }
            for key in ("all", t):
                for metric, x in vals.items():
                    per.setdefault(key, {}).setdefault(metric, []).append(x)
        for key in ["all", *sorted(set(tasks))]:
            for metric in ("spearman", f"ndcg@{NDCG_K}", "top1"):
                v = [x for x in per.get(key, {}).get(metric, []) if not math.isnan(x)]
                rows.append(
                    [round, name, metric, float(np.mean(v)) if v else float("nan"), len(v), key]
                )
    table = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)


def label_share(
    ranked: pd.DataFrame, passages: pd.DataFrame, tasks: pd.DataFrame, k: int = 3
) -> pd.Series:
    """Share of a ranking's top ``k`` candidates that carry the query's gold label.

    ``ranked``: a candidate or score file (query_id, task_name, answers, options, doc_ids,
    doc_scores; higher is better); ``passages``: the pool (id, contents, task_name). Only
    queries of classification tasks count; a candidate of another task never matches.
    Returns the share per task (index ``task_name``), plus ``all`` over every counted query.
    """
    cls = set(tasks.loc[tasks["task_type"] == CLASSIFICATION, "task_name"])
    pool = passages.set_index("id")
    label = {i: passage_label(c) for i, c in zip(pool.index, pool["contents"], strict=True)}
    task_of = pool["task_name"].to_dict()
    rows = []
    for qid, task, answers, options, docs, scores in zip(
        ranked["query_id"],
        ranked["task_name"],
        ranked["answers"],
        ranked["options"],
        ranked["doc_ids"],
        ranked["doc_scores"],
        strict=True,
    ):
        if task not in cls or len(docs) == 0:
            continue
        gold = gold_text(answers, options, qid).strip()
        top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
        rows.append(
            (task, np.mean([task_of[docs[i]] == task and label[docs[i]] == gold for i in top]))
        )
    df = pd.DataFrame(rows, columns=["task_name", "share"])
    per_task = df.groupby("task_name", sort=False)["share"].mean()
    return pd.concat([per_task, pd.Series({"all": df["share"].mean()})])


def label_share_command(
    *,
    files: list[tuple[str, str]],
    passages: str,
    tasks: str,
    k: int,
    without_queries_of: str | None,
) -> int:
    """``llmr label-share NAME=FILE ... --passages P --tasks T``: a markdown table (percent).

    ``files``: (name, candidate / LLM-score / teacher file) pairs."""
    from llmr.reporting.report import markdown_table

    passages_df, tasks_df = read_table(passages), read_table(tasks)
    skip = set(read_table(without_queries_of)["query_id"]) if without_queries_of else set()
    cols = {}
    for name, path in files:
        ranked = read_table(path)
        cols[name] = 100 * label_share(
            ranked[~ranked["query_id"].isin(skip)], passages_df, tasks_df, k
        )

    order = [t for t in tasks_df["task_name"] if any(t in c.index for c in cols.values())]
    table = (
        pd.DataFrame(cols).reindex(order + ["all"]).map(lambda x: "–" if pd.isna(x) else f"{x:.1f}")
    )
    print(markdown_table(table.rename_axis("task").reset_index()))
    return 0
