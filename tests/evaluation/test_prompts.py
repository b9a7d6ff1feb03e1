"""Prompt building: layout, ordering, task filter, random and k-means demonstrations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from llmr.core.io import read_parquet
from llmr.core.schema import stage_defaults
from llmr.evaluation.prompts import build_prompts, format_prompt, kmeans_demos


@pytest.fixture()
def toy(tmp_path):
    """Two tasks: A (classification good/bad), B (generation); hand-made candidates."""
    passages = pd.DataFrame(
        {
            "id": ["a1", "a2", "a3", "a4", "b1", "b2"],
            "contents": ["x1\ngood", "x2\nbad", "x3\ngood", "qa\ngood", "y1\nfoo", "y2\nbar"],
            "task_name": ["A", "A", "A", "A", "B", "B"],
        }
    )
    test = pd.DataFrame(
        {
            "query_id": ["q1", "q2"],
            "query": ["qa", "qb"],
            "answers": [["good"], ["baz"]],
            "options": [[], []],
            "task_name": ["A", "B"],
        }
    )
    tasks = pd.DataFrame(
        {
            "task_name": ["A", "B"],
            "task_type": ["classification", "generation"],
            "metric": ["accuracy", "rouge"],
            "held_out": [False, True],
            "labels": [["bad", "good"], []],
        }
    )
    cands = test.assign(
        doc_ids=[["b1", "a1", "a2", "b2", "a3"], ["b2", "a1", "b1"]],
        doc_scores=[[5.0, 4.0, 3.0, 2.0, 1.0], [3.0, 2.0, 1.0]],
    )
    paths = {}
    for name, df in [("passages", passages), ("test", test), ("tasks", tasks), ("cands", cands)]:
        paths[name] = str(tmp_path / f"{name}.parquet")
        df.to_parquet(paths[name], index=False)
    return paths


def _build(toy, tmp_path, **kw):
    out = str(tmp_path / "prompts.parquet")
    build_prompts(
        toy["test"],
        toy["passages"],
        toy["tasks"],
        out,
        **stage_defaults(build_prompts, "eval", "models") | kw,
    )
    return read_parquet(out).set_index("query_id")


def test_format_prompt_layout():
    assert format_prompt([], "Q") == "Q\n"
    assert format_prompt(["d1\na", "d2\nb"], "Q") == "d1\na\n\nd2\nb\n\nQ\n"


def test_zero_shot(toy, tmp_path):
    df = _build(toy, tmp_path, method="zero_shot")
    assert df.loc["q1", "prompt"] == "qa\n" and df.loc["q1", "demo_ids"] == []
    assert math.isnan(df.loc["q1", "demo_task_match"])


def test_retrieved_task_filter_most_relevant_last(toy, tmp_path):
    df = _build(
        toy, tmp_path, method="retrieved", candidates=toy["cands"], k=2, n_retrieve_factor=2
    )
    # top 2*2 = [b1, a1, a2, b2]; same task -> [a1, a2]; best last -> [a2, a1]
    assert df.loc["q1", "demo_ids"] == ["a2", "a1"]
    assert df.loc["q1", "demo_scores"] == [3.0, 4.0]
    assert df.loc["q1", "prompt"] == "x2\nbad\n\nx1\ngood\n\nqa\n"
    assert df.loc["q1", "demo_task_match"] == 1.0
    assert df.loc["q1", "demo_label_match"] == 0.5  # a1 good == gold good, a2 bad
    assert math.isnan(df.loc["q2", "demo_label_match"])  # generation task


def test_retrieved_no_filter(toy, tmp_path):
    df = _build(
        toy, tmp_path, method="retrieved", candidates=toy["cands"], k=2, variant="no_filter"
    )
    assert df.loc["q1", "demo_ids"] == ["a1", "b1"]
    assert df.loc["q1", "demo_task_match"] == 0.5
    assert df.loc["q2", "demo_ids"] == ["a1", "b2"]


def test_retrieved_needs_candidates(toy, tmp_path):
    with pytest.raises(ValueError, match="candidates"):
        _build(toy, tmp_path, method="retrieved")


def test_random_excludes_self_and_is_seeded(toy, tmp_path):
    df = _build(toy, tmp_path, method="random", k=8, seed=1)
    # q1's own passage "qa\ngood" (a4) is in the pool and must be excluded
    assert sorted(df.loc["q1", "demo_ids"]) == ["a1", "a2", "a3"]
    assert sorted(df.loc["q2", "demo_ids"]) == ["b1", "b2"]
    a = _build(toy, tmp_path, method="random", k=2, seed=7)
    b = _build(toy, tmp_path, method="random", k=2, seed=7)
    assert a["demo_ids"].tolist() == b["demo_ids"].tolist()
    seen = {
        tuple(_build(toy, tmp_path, method="random", k=2, seed=s).loc["q1", "demo_ids"])
        for s in range(8)
    }
    assert len(seen) > 1
    nf = _build(toy, tmp_path, method="random", k=5, seed=1, variant="no_filter")
    assert "a4" not in nf.loc["q1", "demo_ids"] and len(nf.loc["q1", "demo_ids"]) == 5


def test_random_on_tiny_suite(tiny_data, tmp_path):
    out = str(tmp_path / "p.parquet")
    build_prompts(
        tiny_data["test"],
        tiny_data["passages"],
        tiny_data["tasks"],
        out,
        method="random",
        **stage_defaults(build_prompts, "eval", "models") | {"k": 4},
    )
    df = read_parquet(out)
    assert (df["demo_task_match"] == 1.0).all() and (df["demo_ids"].map(len) == 4).all()
    assert df["prompt"].map(lambda p: p.count("\n\n") == 4).all()


def test_kmeans_demos_picks_one_per_cluster():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.05, 0.95]], dtype=float)
    picks = kmeans_demos(x, 2, seed=0)
    assert len(picks) == 2 and {0, 1} & set(picks) and {2, 3, 4} & set(picks)
    assert picks == kmeans_demos(x, 2, seed=0)


def test_kmeans_prompts(toy, tmp_path):
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [1, 1], [1, -1]], dtype=float)
    np.save(tmp_path / "emb.npy", emb)
    np.save(tmp_path / "q.npy", np.array([[0, 1], [1, 0]], dtype=float))
    kw = dict(method="kmeans", k=2, embeddings=str(tmp_path / "emb.npy"))
    a = _build(toy, tmp_path, **kw)
    b = _build(toy, tmp_path, **kw)
    assert a["demo_ids"].tolist() == b["demo_ids"].tolist()
    ids = a.loc["q1", "demo_ids"]
    assert len(ids) == 2 and {"a1", "a2"} & set(ids) and {"a3", "a4"} & set(ids)
    assert sorted(a.loc["q2", "demo_ids"]) == ["b1", "b2"]
    # with query embeddings: q1 ~ [0, 1] -> the a3/a4 cluster's item comes last
    c = _build(toy, tmp_path, query_embeddings=str(tmp_path / "q.npy"), **kw)
    assert sorted(c.loc["q1", "demo_ids"]) == sorted(ids)
    assert c.loc["q1", "demo_ids"][-1] in {"a3", "a4"}
    assert c.loc["q1", "demo_scores"][-1] > c.loc["q1", "demo_scores"][0]
    with pytest.raises(ValueError, match="rows"):
        np.save(tmp_path / "bad.npy", emb[:3])
        _build(toy, tmp_path, method="kmeans", k=2, embeddings=str(tmp_path / "bad.npy"))


def test_bad_method(toy, tmp_path):
    with pytest.raises(ValueError):
        _build(toy, tmp_path, method="oracle")
    with pytest.raises(ValueError):
        _build(toy, tmp_path, method="random", variant="weird")


def test_task_filter_fills_up_to_k_with_penalised_other_task(toy, tmp_path):
    """Too few same-task candidates among the 5·k: the best other-task ones fill up (the
    reference's -100 penalty), so the prompt still has k demonstrations."""
    df = _build(
        toy, tmp_path, method="retrieved", candidates=toy["cands"], k=3, n_retrieve_factor=5
    )
    # q2 (task B): candidates [b2, a1, b1] -> same task [b2, b1], fill [a1 - 100]
    assert df.loc["q2", "demo_ids"] == ["a1", "b1", "b2"]  # best last
    assert df.loc["q2", "demo_scores"] == [2.0 - 100.0, 1.0, 3.0]
    assert df.loc["q2", "demo_task_match"] == pytest.approx(2 / 3)
    # q1 (task A) has 3 same-task candidates: no fill-up needed
    assert df.loc["q1", "demo_ids"] == ["a3", "a2", "a1"]


def test_task_filter_always_yields_k_when_the_pool_has_them(toy, tmp_path):
    for k in (1, 2, 3, 4):
        df = _build(
            toy, tmp_path, method="retrieved", candidates=toy["cands"], k=k, n_retrieve_factor=5
        )
        have = {"q1": 5, "q2": 3}  # retrieved candidates besides the query itself
        for q, n in have.items():
            assert len(df.loc[q, "demo_ids"]) == min(k, n)


def test_kmeans_ordered_by_similarity_from_index_encoder(toy, tmp_path, tiny_encoder):
    """The pipeline passes only the index folder: queries are embedded with its encoder."""
    from llmr.models.encoder import load_encoder
    from llmr.retrieval.index import build_index, encode

    build_index(
        tiny_encoder,
        toy["passages"],
        str(tmp_path / "idx"),
        **stage_defaults(build_index, "models", "retriever"),
    )
    emb = str(tmp_path / "idx" / "embeddings.npy")
    df = _build(toy, tmp_path, method="kmeans", k=2, embeddings=emb)
    model, tok = load_encoder(tiny_encoder)
    meta = stage_defaults(build_index, "models", "retriever")
    q = encode(
        model, tok, ["qa", "qb"], prefix="", pooling=meta["pooling"], max_length=meta["max_length"]
    )
    p = np.load(emb)
    pos = {pid: i for i, pid in enumerate(["a1", "a2", "a3", "a4", "b1", "b2"])}
    for qi, qid in enumerate(["q1", "q2"]):
        ids, scores = df.loc[qid, "demo_ids"], df.loc[qid, "demo_scores"]
        want = [float(p[pos[i]] @ q[qi]) for i in ids]
        np.testing.assert_allclose(scores, want, rtol=1e-4, atol=1e-5)
        assert list(scores) == sorted(scores)  # most similar last
