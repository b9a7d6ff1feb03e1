"""Group sampling rules and the reward-model filters (llmr.training.groups)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmr.core.io import read_parquet, write_parquet
from llmr.core.schema import section_defaults
from llmr.training.groups import (
    FILL_SCORE,
    GroupSampler,
    PassagePool,
    drop_reason,
    heldback_mask,
    load_scored,
    merge_scored,
    negative_window,
    sample_group,
)

from helpers.tiny import synthetic_scores

DOCS = np.arange(20)  # pool indices 0..19, best first
SCORES = -np.arange(20, dtype=float)  # descending
# the schema's negative window (the paper's: positive from the top 3, negatives from the
# bottom 16), which the tests below spell out
WINDOW = {k: section_defaults("reward")[k] for k in ("pos_top", "neg_bottom")}


def test_positive_from_top3_negatives_from_bottom16():
    seen_pos = set()
    for seed in range(200):
        docs, scores = sample_group(
            DOCS, SCORES, np.random.default_rng(seed), n_negatives=7, **WINDOW
        )
        assert len(docs) == 8 and len(set(docs.tolist())) == 8
        seen_pos.add(int(docs[0]))
        assert docs[0] in (0, 1, 2)
        assert all(4 <= d <= 19 for d in docs[1:])  # bottom 16 of 20 = indices 4..19
        np.testing.assert_array_equal(scores, SCORES[docs])
    assert seen_pos == {0, 1, 2}  # uniform over the top 3


def test_negatives_never_top_candidates_when_few_are_scored():
    # 12 candidates < pos_top + neg_bottom: the window is ranks 4..12, never a top-3 one
    docs, scores = np.arange(12), -np.arange(12, dtype=float)
    assert list(negative_window(12, 3, 16)) == list(range(3, 12))
    assert list(negative_window(32, 3, 16)) == list(range(16, 32))  # the paper's bottom 16
    for seed in range(300):
        g, s = sample_group(docs, scores, np.random.default_rng(seed), n_negatives=7, **WINDOW)
        assert g[0] in (0, 1, 2)
        assert not set(g[1:].tolist()) & {0, 1, 2}
        assert len(set(g.tolist())) == 8


def test_never_the_positive_and_determinism():
    docs = np.array([5, 6, 7, 8, 9])
    for seed in range(50):
        g, _ = sample_group(
            docs, np.array([5.0, 4.0, 3.0, 2.0, 1.0]), np.random.default_rng(seed), 2, **WINDOW
        )
        assert g[0] not in g[1:]
        assert set(g[1:].tolist()) == {8, 9}
    a = sample_group(DOCS, SCORES, np.random.default_rng(7), 7, **WINDOW)
    b = sample_group(DOCS, SCORES, np.random.default_rng(7), 7, **WINDOW)
    np.testing.assert_array_equal(a[0], b[0])


def _pool(labels, tasks):
    n = len(labels)
    ids = [f"p{i}" for i in range(n)]
    contents = [f"q{i}\n{lab}" for i, lab in enumerate(labels)]
    return PassagePool(
        ids, contents, list(labels), list(tasks), {d: i for i, d in enumerate(ids)}, {}
    )


def test_same_label_removal_and_random_fill():
    # pool of 30 passages of task "t" (29: another task); label "yes" for even indices
    labels = ["yes" if i % 2 == 0 else "no" for i in range(30)]
    pool = _pool(labels, ["t"] * 29 + ["u"])
    docs, scores = np.arange(8), -np.arange(8, dtype=float)
    for seed in range(50):
        g, s = sample_group(
            docs, scores, np.random.default_rng(seed), n_negatives=5, **WINDOW, pool=pool,
            same_label=("t", "yes"), exclude=frozenset({28}),
        )  # fmt: skip
        negs = g[1:]
        assert all(labels[d] == "no" or d == 29 for d in negs)  # same-task same-label removed
        from_cands = [d for d in negs if d < 8]
        fill = [d for d in negs if d >= 8]
        # window ranks 3..7; odd ones (3, 5, 7) are negatives, the rest is random fill
        assert set(from_cands) <= {3, 5, 7} and len(fill) == 5 - len(from_cands)
        assert not set(fill) & {0, 1, 2}  # a fill passage is never a top candidate
        assert 28 not in g and g[0] not in negs and len(set(g.tolist())) == 6
        np.testing.assert_array_equal(s[1 + len(from_cands) :], FILL_SCORE)
        assert s[0] > FILL_SCORE


def test_same_label_filter_applies_to_the_query_task_only():
    # candidates 3..7 carry the query's label; 3 and 4 come from another task
    labels = ["yes"] * 10
    pool = _pool(labels, ["t", "t", "t", "u", "u", "t", "t", "t", "t", "t"])
    docs, scores = np.arange(8), -np.arange(8, dtype=float)
    for seed in range(20):
        g, _ = sample_group(
            docs,
            scores,
            np.random.default_rng(seed),
            n_negatives=2,
            **WINDOW,
            pool=pool,
            same_label=("t", "yes"),
        )
        assert set(g[1:].tolist()) == {3, 4}


def test_filters():
    assert drop_reason([1.0, 0.5, 0.2], held_out=False) == "few_candidates"
    assert drop_reason([1.0, 0.5, 0.2, 0.1], held_out=False) is None
    assert drop_reason([1.0, 0.5, 0.2, 0.1], held_out=True) == "held_out_task"
    assert drop_reason([-1.0, -2.0, -100.0, -101.0], held_out=False) == "third_best_penalised"
    assert drop_reason([-1.0, -2.0, -99.9, -101.0], held_out=False) is None
    # distillation keeps few candidates and penalised scores
    assert drop_reason([-100.0, -101.0], held_out=False, reward_filters=False) is None


def test_heldback_mask_is_deterministic():
    ids = [f"q{i}" for i in range(2000)]
    m = heldback_mask(ids, 0.1)
    assert 0.07 < m.mean() < 0.13
    np.testing.assert_array_equal(m, heldback_mask(list(reversed(ids)), 0.1)[::-1])
    assert not heldback_mask(ids, 0.0).any()


@pytest.fixture(scope="module")
def scored(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("scores") / "round0.parquet")
    synthetic_scores(tiny_data["train"], tiny_data["passages"], tiny_data["tasks"], out)
    return out


def test_load_scored_splits_and_filters(tiny_data, scored):
    pool = PassagePool.load(tiny_data["passages"])
    tr, counts = load_scored([scored], pool, tiny_data["tasks"], 0.2, "train")
    hb, _ = load_scored([scored], pool, tiny_data["tasks"], 0.2, "heldback")
    assert counts["held_out_task"] == 24  # gen_echo
    assert set(tr.frame["task_name"]) <= {"cls_sent", "mc_pick"}
    assert not set(tr.frame["query_id"]) & set(hb.frame["query_id"])
    assert len(tr) == counts["kept"] > 0 and len(hb) > 0
    for qi in range(len(tr)):
        assert np.all(np.diff(tr.scores[qi]) <= 0)  # best first
        assert tr.self_idx[qi]  # own passage known


def test_sampler_removes_same_label_for_classification(tiny_data, scored):
    pool = PassagePool.load(tiny_data["passages"])
    tr, _ = load_scored([scored], pool, tiny_data["tasks"], 0.0, "train", reward_filters=False)
    s = GroupSampler(tr, pool, n_negatives=3, **WINDOW, drop_same_label=True, seed=1)
    for qi in range(len(tr)):
        docs, _ = s.group(qi, epoch=0)
        assert not set(docs.tolist()) & tr.self_idx[qi]
        if tr.is_cls[qi]:
            task = tr.frame["task_name"].iat[qi]
            assert all(pool.labels[d] != tr.golds[qi] or pool.tasks[d] != task for d in docs[1:])
    np.testing.assert_array_equal(s.group(0, 3)[0], s.group(0, 3)[0])
    assert sorted(s.order(1)) == list(range(len(tr)))


def test_merge_scored_keeps_union_in_order(tmp_path, scored):
    df = read_parquet(scored).iloc[:2]
    a = df.copy()
    a["doc_ids"] = [["x", "y"], ["z"]]
    a["doc_scores"] = [[1.0, 2.0], [3.0]]
    b = df.copy()
    b["doc_ids"] = [["y", "w"], ["z", "v"]]
    b["doc_scores"] = [[9.0, 4.0], [9.0, 5.0]]
    write_parquet(pd.DataFrame(a), tmp_path / "a.parquet")
    write_parquet(pd.DataFrame(b), tmp_path / "b.parquet")
    m = merge_scored([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")])
    assert m["doc_ids"].tolist() == [["x", "y", "w"], ["z", "v"]]
    assert m["doc_scores"].tolist() == [[1.0, 2.0, 4.0], [3.0, 5.0]]


def test_concat_keeps_one_list_per_file_and_groups_within_it(tiny_data, tmp_path, scored):
    """Two score files for the same query (two rounds, or two reward models with different
    logit scales): concatenated as the reference does, each file's list is its own row and
    every group is drawn within one list; a union per query would rank file b's candidates
    above all of file a's, so the positive would come from b and the negatives from a."""
    pool = PassagePool.load(tiny_data["passages"])
    base = read_parquet(scored).iloc[:1]
    # candidates of other tasks: never the query's own passage
    ids = [d for d, t in zip(pool.ids, pool.tasks, strict=True) if t != base["task_name"].iat[0]]
    ids = ids[:40]
    a = base.assign(doc_ids=[ids[:20]], doc_scores=[list(np.arange(20.0, 0.0, -1.0))])
    b = base.assign(doc_ids=[ids[20:]], doc_scores=[list(np.arange(120.0, 100.0, -1.0))])
    write_parquet(pd.DataFrame(a), tmp_path / "a.parquet")
    write_parquet(pd.DataFrame(b), tmp_path / "b.parquet")
    files = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    q, counts = load_scored(files, pool, None, 0.0)
    assert len(q) == 2 and counts["kept"] == 2
    assert q.frame["query_id"].tolist() == [base["query_id"].iat[0]] * 2
    lists = [set(pool.lookup(ids[:20], "a").tolist()), set(pool.lookup(ids[20:], "b").tolist())]
    s = GroupSampler(q, pool, n_negatives=3, **WINDOW, drop_same_label=False, seed=0)
    for row in (0, 1):
        top3 = [int(d) for d in q.docs[row][:3]]
        bottom16 = {int(d) for d in q.docs[row][4:]}
        for epoch in range(20):
            g, sc = s.group(row, epoch)
            assert set(g.tolist()) <= lists[row]  # one list, one scorer
            assert int(g[0]) in top3 and set(g[1:].tolist()) <= bottom16
            assert (sc <= 20).all() if row == 0 else (sc > 100).all()
    u, _ = load_scored(files, pool, None, 0.0, combine="union")
    assert len(u) == 1 and set(u.docs[0][:20].tolist()) == lists[1]  # b on top: mixed
    with pytest.raises(ValueError, match="combine"):
        load_scored(files, pool, None, 0.0, combine="mix")
