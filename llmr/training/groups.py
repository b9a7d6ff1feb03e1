"""Training groups from scored candidates, shared by the reward model and distillation.

One place for the sampling rules (docs/METHOD.md, "Training groups"):

- positive: uniform from the ``pos_top`` best candidates by score;
- negatives: ``n`` from the ``neg_bottom`` worst candidates, never one of the ``pos_top``
  best, without replacement; for classification tasks (distillation) without negatives of
  the query's own task that carry the query's gold label; random pool passages (teacher
  score -100, never a top candidate or the query's own passage) fill up when too few remain;
- the paper's filters: drop queries with <= 3 candidates, from held-out tasks, or whose
  3rd best score is <= -100;
- a deterministic held-back slice of training queries (hash of ``query_id``) that neither
  training sees; agreement is measured on it.

Several score files (rounds, or the released ``kd_bm25_train`` + ``kd_it2_train``) are
concatenated as the reference does: a query appears once per file, and each of its groups is
drawn within one file's list (``concat_scored``). ``merge_scored`` (union per query) is for
candidate lists scored afterwards by one model (the teacher's pairs).

Randomness is a ``numpy.random.Generator`` seeded by ``(seed, epoch, row)``, so a group
depends only on those three numbers (resumable, identical on every process).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llmr.core.io import EXAMPLE_FIELDS, read_table
from llmr.core.records import (
    CLASSIFICATION,
    CROSS_TASK_PENALTY,
    content_hash,
    gold_text,
    passage_label,
    query_hash,
)

MIN_CANDIDATES = 4  # the paper drops queries with <= 3 candidates


def heldback_mask(query_ids: Sequence[str], fraction: float) -> np.ndarray:
    """(N,) bool: True for the held-back slice (sha1 of the query id below ``fraction``)."""
    if fraction <= 0:
        return np.zeros(len(query_ids), dtype=bool)
    u = [
        int.from_bytes(hashlib.sha1(str(q).encode("utf-8")).digest()[:8], "big") / 2.0**64
        for q in query_ids
    ]
    return np.asarray(u, dtype=np.float64) < fraction


def merge_scored(paths: Sequence[str | pd.DataFrame]) -> pd.DataFrame:
    """Union of scored candidate tables per query, order kept (the teacher's candidate
    lists, scored afterwards by one model; training concatenates instead, ``concat_scored``).

    ``paths``: files, or tables already in memory. Rows keep the first table's example
    columns; a query's ``doc_ids`` are the union over tables in order of first appearance,
    each with its first seen score.
    """
    if not len(paths):
        raise ValueError("no score files given")
    rows: dict[str, dict] = {}
    for k, table in enumerate(paths):
        df, path = _read_scored(table, k)
        for rec in df.to_dict("records"):
            qid = str(rec["query_id"])
            ids, scores = list(rec["doc_ids"]), list(rec["doc_scores"])
            if len(ids) != len(scores):
                raise ValueError(f"{path}: query {qid}: doc_ids and doc_scores differ in length")
            cur = rows.get(qid)
            if cur is None:
                cur = {k: rec[k] for k in EXAMPLE_FIELDS}
                cur["doc_ids"], cur["doc_scores"], cur["_seen"] = [], [], set()
                rows[qid] = cur
            for d, s in zip(ids, scores, strict=True):
                if d not in cur["_seen"]:
                    cur["_seen"].add(d)
                    cur["doc_ids"].append(str(d))
                    cur["doc_scores"].append(float(s))
    out = pd.DataFrame(list(rows.values()))
    return out.drop(columns=["_seen"])


def _read_scored(path: str | pd.DataFrame, k: int) -> tuple[pd.DataFrame, str]:
    """A scored table (file or in memory) and its name, checked for the needed columns."""
    df = path if isinstance(path, pd.DataFrame) else read_table(path)
    name = path if isinstance(path, str) else f"table {k}"
    missing = [c for c in (*EXAMPLE_FIELDS, "doc_ids", "doc_scores") if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    return df, name


def concat_scored(paths: Sequence[str | pd.DataFrame]) -> pd.DataFrame:
    """Scored candidate tables concatenated, one row per (table, query), as the reference
    loads several training files: a query of two round files has two rows, each with its
    own list, so a group never mixes two scorers' scores and its negatives are the bottom of
    one list. Columns: the example columns, ``doc_ids``, ``doc_scores``, ``source`` (the
    table's position in ``paths``)."""
    if not len(paths):
        raise ValueError("no score files given")
    parts = []
    for k, path in enumerate(paths):
        df, name = _read_scored(path, k)
        for qid, ids, scores in zip(df["query_id"], df["doc_ids"], df["doc_scores"],
                                    strict=True):  # fmt: skip
            if len(ids) != len(scores):
                raise ValueError(f"{name}: query {qid}: doc_ids and doc_scores differ in length")
        part = df[[*EXAMPLE_FIELDS]].copy()
        part["doc_ids"] = [[str(d) for d in ids] for ids in df["doc_ids"]]
        part["doc_scores"] = [[float(x) for x in sc] for sc in df["doc_scores"]]
        part["source"] = k
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def drop_reason(scores: Sequence[float], held_out: bool, reward_filters: bool = True) -> str | None:
    """Why a scored query is dropped from training, or None to keep it.

    Reasons: ``held_out_task``; ``no_candidates``; with ``reward_filters`` (the paper's
    reward-model filters) also ``few_candidates`` (<= 3) and ``third_best_penalised``
    (3rd best score <= -100).
    """
    if held_out:
        return "held_out_task"
    if len(scores) == 0:
        return "no_candidates"
    if reward_filters:
        if len(scores) < MIN_CANDIDATES:
            return "few_candidates"
        if sorted(scores, reverse=True)[2] <= CROSS_TASK_PENALTY:
            return "third_best_penalised"
    return None


@dataclass
class PassagePool:
    """The demonstration pool: ids, contents, labels, task names and lookup tables."""

    ids: list[str]
    contents: list[str]
    labels: list[str]
    tasks: list[str]
    index: dict[str, int] = field(repr=False)
    by_hash: dict[str, list[int]] = field(repr=False)

    @classmethod
    def load(cls, path: str) -> PassagePool:
        df = read_table(path)
        ids = [str(i) for i in df["id"]]
        contents = [str(c) for c in df["contents"]]
        by_hash: dict[str, list[int]] = {}
        for i, c in enumerate(contents):
            by_hash.setdefault(content_hash(c), []).append(i)
        return cls(
            ids=ids,
            contents=contents,
            labels=[passage_label(c) for c in contents],
            tasks=[str(t) for t in df["task_name"]],
            index={d: i for i, d in enumerate(ids)},
            by_hash=by_hash,
        )

    def lookup(self, doc_ids: Sequence[str], where: str) -> np.ndarray:
        """(K,) int64 pool indices of ``doc_ids``; ValueError naming ``where`` if unknown."""
        try:
            return np.asarray([self.index[d] for d in doc_ids], dtype=np.int64)
        except KeyError as e:
            raise ValueError(f"{where}: doc id {e.args[0]!r} is not in the passage pool") from None


@dataclass
class ScoredQueries:
    """Scored queries with their candidates sorted best first (pool indices)."""

    frame: pd.DataFrame  # example columns, one row per scored list (file x query)
    golds: list[str]
    is_cls: np.ndarray  # (N,) bool: classification task
    docs: list[np.ndarray]  # per query (K_i,) int64 pool indices, best first
    scores: list[np.ndarray]  # per query (K_i,) float64, descending
    self_idx: list[frozenset[int]]  # per query: pool indices of its own passage

    def __len__(self) -> int:
        return len(self.golds)


def load_scored(
    paths: Sequence[str | pd.DataFrame],
    pool: PassagePool,
    tasks: str | None,
    heldback_fraction: float,
    split: str = "train",
    reward_filters: bool = True,
    combine: str = "concat",
) -> tuple[ScoredQueries, dict[str, int]]:
    """Load, combine, filter and split scored candidate files (or tables in memory).

    ``combine``: ``concat`` (the reference: one row per file and query, ``concat_scored``)
    or ``union`` (one row per query, ``merge_scored``). ``split``: ``train`` (filtered,
    held-back slice removed), ``heldback`` (filtered, only the held-back slice) or ``all``
    (no filter, no split); the held-back slice is decided by query id, so every row of a
    query falls on the same side. Returns the queries (one per row) and counts of kept /
    dropped rows per reason.
    """
    if split not in ("train", "heldback", "all"):
        raise ValueError(f"unknown split {split!r}")
    if combine not in ("concat", "union"):
        raise ValueError(f"unknown combine {combine!r}")
    df = concat_scored(paths) if combine == "concat" else merge_scored(paths)
    task_type: dict[str, str] = {}
    held_out: dict[str, bool] = {}
    if tasks is not None:
        tdf = read_table(tasks)
        task_type = dict(zip(tdf["task_name"], tdf["task_type"], strict=True))
        held_out = {k: bool(v) for k, v in zip(tdf["task_name"], tdf["held_out"], strict=True)}
    hb = heldback_mask(list(df["query_id"]), heldback_fraction)
    counts: dict[str, int] = {"input": len(df)}
    keep = []
    for i, rec in enumerate(df.to_dict("records")):
        if split != "all":
            reason = drop_reason(
                rec["doc_scores"], held_out.get(rec["task_name"], False), reward_filters
            )
            if reason is None and hb[i] != (split == "heldback"):
                reason = "heldback" if hb[i] else "not_heldback"
            if reason is not None:
                counts[reason] = counts.get(reason, 0) + 1
                continue
        keep.append(i)
    df = df.iloc[keep].reset_index(drop=True)
    counts["kept"] = len(df)
    golds, docs, scores, selfs = [], [], [], []
    for rec in df.to_dict("records"):
        where = f"query {rec['query_id']}"
        gold = gold_text(rec["answers"], rec["options"], where)
        golds.append(gold)
        s = np.asarray(rec["doc_scores"], dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        docs.append(pool.lookup([rec["doc_ids"][j] for j in order], where))
        scores.append(s[order])
        own = set(pool.by_hash.get(query_hash(rec["query"], rec["answers"], rec["options"]), []))
        if str(rec["query_id"]) in pool.index:
            own.add(pool.index[str(rec["query_id"])])
        selfs.append(frozenset(own))
    is_cls = np.asarray([task_type.get(t) == CLASSIFICATION for t in df["task_name"]], dtype=bool)
    return ScoredQueries(df, golds, is_cls, docs, scores, selfs), counts


FILL_SCORE = CROSS_TASK_PENALTY  # teacher score of a random fill passage (the reference: -100)


@dataclass
class GroupSampler:
    """Samples one group per (epoch, query): positive first, then ``n_negatives``.

    ``group(qi, epoch)`` returns pool indices (G,) int64 and teacher scores (G,) float64
    (``FILL_SCORE`` for random fill passages). No defaults: the settings are a config
    section's (``GroupSpec``, ``TrainConfig.seed``).
    """

    queries: ScoredQueries
    pool: PassagePool
    n_negatives: int
    pos_top: int
    neg_bottom: int
    drop_same_label: bool
    seed: int

    def order(self, epoch: int) -> np.ndarray:
        """(N,) the query order of ``epoch``: a seeded permutation."""
        return np.random.default_rng([self.seed, epoch, 2**31]).permutation(len(self.queries))

    def group(self, qi: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch, qi])
        q = self.queries
        same_label = self.drop_same_label and bool(q.is_cls[qi])
        return sample_group(
            q.docs[qi],
            q.scores[qi],
            rng,
            n_negatives=self.n_negatives,
            pos_top=self.pos_top,
            neg_bottom=self.neg_bottom,
            pool=self.pool,
            same_label=(str(q.frame["task_name"].iat[qi]), q.golds[qi].strip())
            if same_label
            else None,
            exclude=q.self_idx[qi],
        )


def negative_window(n: int, pos_top: int, neg_bottom: int) -> range:
    """Positions (in best-first order) negatives are drawn from: the ``neg_bottom`` worst of
    ``n`` candidates, never one of the ``pos_top`` best (the reference's rule)."""
    return range(max(min(pos_top, n), n - neg_bottom), n)


def sample_group(
    docs: np.ndarray,
    scores: np.ndarray,
    rng: np.random.Generator,
    n_negatives: int,
    *,
    pos_top: int,
    neg_bottom: int,
    pool: PassagePool | None = None,
    same_label: tuple[str, str] | None = None,
    exclude: frozenset[int] | set[int] = frozenset(),
) -> tuple[np.ndarray, np.ndarray]:
    """Sample one group from candidates sorted best first.

    Positive: uniform among the ``pos_top`` best. Negatives: without replacement from
    ``negative_window`` (the bottom ``neg_bottom``, top ``pos_top`` excluded); with
    ``same_label=(task, label)`` candidates of that task carrying that label are not
    negatives. Random pool passages (score ``FILL_SCORE``) fill up when too few remain.

    Args:
        docs: (K,) pool indices, best first. scores: (K,) their scores, descending.
        pool: the passage pool (labels and tasks for ``same_label``, size for the fill).
        exclude: pool indices never used (the query's own passage).
    Returns:
        (1 + n_negatives,) pool indices, positive first, and (1 + n_negatives,) scores.
    """
    keep = np.asarray([int(d) not in exclude for d in docs], dtype=bool)
    docs = np.asarray(docs, dtype=np.int64)[keep]
    scores = np.asarray(scores, dtype=np.float64)[keep]
    if len(docs) == 0:
        raise ValueError("no candidates to sample a positive from")
    n_pos = min(pos_top, len(docs))
    p = int(rng.integers(n_pos))
    chosen, chosen_scores = [int(docs[p])], [float(scores[p])]
    taken = set(exclude) | {int(d) for d in docs[:n_pos]}

    def is_same_label(d: int) -> bool:
        return (
            same_label is not None and pool is not None
            and pool.tasks[d] == same_label[0] and pool.labels[d].strip() == same_label[1]
        )  # fmt: skip

    cand: list[int] = []
    for j in negative_window(len(docs), pos_top, neg_bottom):
        d = int(docs[j])
        if d not in taken and not is_same_label(d):
            taken.add(d)
            cand.append(j)
    for t in rng.permutation(len(cand))[:n_negatives]:
        chosen.append(int(docs[cand[t]]))
        chosen_scores.append(float(scores[cand[t]]))
    need = 1 + n_negatives - len(chosen)
    if need > 0 and pool is not None:
        fill = _random_fill(rng, need, taken, len(pool.ids), is_same_label)
        chosen += fill
        chosen_scores += [FILL_SCORE] * len(fill)
    need = 1 + n_negatives - len(chosen)
    if need > 0:  # tiny pool: repeat negatives (with replacement) as a last resort
        others = chosen[1:] or [int(d) for d in docs if int(d) != chosen[0]] or [chosen[0]]
        score_of = dict(zip(chosen, chosen_scores, strict=True))
        for e in rng.integers(len(others), size=need):
            chosen.append(others[e])
            chosen_scores.append(score_of.get(others[e], FILL_SCORE))
    return np.asarray(chosen, dtype=np.int64), np.asarray(chosen_scores, dtype=np.float64)


def _random_fill(
    rng: np.random.Generator, need: int, taken: set[int], n_pool: int, reject
) -> list[int]:
    """Up to ``need`` distinct random pool indices not in ``taken`` and not ``reject(d)``."""
    out: list[int] = []
    taken = set(taken)
    for _ in range(8):
        if len(out) >= need or n_pool == 0:
            break
        for d in rng.integers(n_pool, size=4 * need + 8):
            d = int(d)
            if d in taken or reject(d):
                continue
            taken.add(d)
            out.append(d)
            if len(out) >= need:
                break
    return out
