"""BM25 index and search (llmr.retrieval.bm25): self-exclusion, determinism, formats, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmr.core.io import CANDIDATE_FIELDS, read_json, read_parquet, write_parquet
from llmr.core.records import content_hash, query_hash
from llmr.core.schema import stage_defaults
from llmr.retrieval import bm25, candidates

INDEX = stage_defaults(bm25.build_index, "bm25")  # what the rule bm25_index passes
SEARCH = stage_defaults(bm25.search, "bm25")


@pytest.fixture(scope="module")
def bm25_index(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bm25") / "index"
    bm25.build_index(tiny_data["passages"], str(out), **INDEX)
    return str(out)


def _search(index, data, tmp_path, name="c.parquet", **kw):
    out = tmp_path / name
    queries = kw.pop("queries", data["train"])
    bm25.search(index, data["passages"], queries, str(out), **SEARCH | kw)
    return read_parquet(out)


def test_params_and_files(bm25_index, tiny_data):
    params = read_json(f"{bm25_index}/params.json")
    n = len(read_parquet(tiny_data["passages"]))
    assert params["n_passages"] == n
    assert {"k1", "b", "method", "stopwords", "stemmer"} <= set(params)
    index = bm25.load_index(bm25_index)
    idx, sc = index.topk(["good day", ""], 5)
    assert idx.shape == sc.shape == (2, 5) and idx.dtype == np.int64
    assert (idx[1] == -1).all() and np.isneginf(sc[1]).all()


def test_self_exclusion(bm25_index, tiny_data, tmp_path):
    pool = read_parquet(tiny_data["passages"])
    hash_of = dict(zip(pool["id"], map(content_hash, pool["contents"]), strict=True))
    cands = _search(bm25_index, tiny_data, tmp_path, topk=10)
    without = _search(bm25_index, tiny_data, tmp_path, "all.parquet", topk=10, exclude_self=False)
    own_seen = 0
    for row, other in zip(cands.itertuples(), without.itertuples(), strict=True):
        h = query_hash(row.query, row.answers, row.options)
        assert all(hash_of[d] != h for d in row.doc_ids)
        assert len(row.doc_ids) > 0
        own_seen += any(hash_of[d] == h for d in other.doc_ids)
    assert own_seen > len(cands) // 2  # the own passage is found when not excluded


def test_columns_types_and_order(bm25_index, tiny_data, tmp_path):
    cands = _search(bm25_index, tiny_data, tmp_path, topk=7)
    assert tuple(cands.columns) == CANDIDATE_FIELDS
    for ids, scores in zip(cands["doc_ids"], cands["doc_scores"], strict=True):
        assert isinstance(ids, list) and all(isinstance(d, str) for d in ids)
        assert all(isinstance(s, float) for s in scores) and len(ids) == len(scores) <= 7
        assert scores == sorted(scores, reverse=True)


def test_deterministic(bm25_index, tiny_data, tmp_path):
    a = _search(bm25_index, tiny_data, tmp_path, "a.parquet", topk=20)
    b = _search(bm25_index, tiny_data, tmp_path, "b.parquet", topk=20)
    pd.testing.assert_frame_equal(a, b)


def test_ties_broken_by_row(tmp_path):
    pool = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(5)],
            "contents": [
                "zebra stripe",
                "other words",
                "zebra stripe",
                "zebra stripe",
                "more text",
            ],
            "task_name": ["t"] * 5,
        }
    )
    write_parquet(pool, tmp_path / "p.parquet")
    bm25.build_index(str(tmp_path / "p.parquet"), str(tmp_path / "idx"), **INDEX)
    idx, sc = bm25.load_index(str(tmp_path / "idx")).topk(["zebra"], 4)
    assert idx[0].tolist() == [0, 2, 3, -1] and sc[0, 0] == sc[0, 1] == sc[0, 2]
    ti, _ = candidates.topk_rows(np.array([[1.0, 3.0, 3.0, -np.inf, 3.0]]), 4)
    assert ti.tolist() == [[1, 2, 4, 0]]


def test_trec_run_file(bm25_index, tiny_data, tmp_path):
    run = tmp_path / "run.trec"
    cands = _search(bm25_index, tiny_data, tmp_path, topk=5, run_file=str(run))
    lines = run.read_text().splitlines()
    assert len(lines) == sum(map(len, cands["doc_ids"]))
    by_q: dict[str, list] = {}
    for line in lines:
        qid, q0, doc, rank, score, name = line.split(" ")
        assert q0 == "Q0" and name == "llmr-bm25"
        by_q.setdefault(qid, []).append((int(rank), float(score), doc))
    first = cands.iloc[0]
    got = by_q[first["query_id"]]
    assert [r for r, _, _ in got] == list(range(1, len(got) + 1))
    assert [d for _, _, d in got] == first["doc_ids"]


def test_empty_pool_raises(tmp_path):
    write_parquet(
        pd.DataFrame(
            {
                "id": pd.Series([], dtype=str),
                "contents": pd.Series([], dtype=str),
                "task_name": pd.Series([], dtype=str),
            }
        ),
        tmp_path / "e.parquet",
    )
    with pytest.raises(ValueError, match="empty"):
        bm25.build_index(str(tmp_path / "e.parquet"), str(tmp_path / "idx"), **INDEX)


def test_empty_query_gets_no_candidates(bm25_index, tiny_data, tmp_path):
    q = pd.DataFrame(
        {
            "query_id": ["e1", "e2", "ok"],
            "query": ["", "the of and", "apple"],
            "answers": [["x"], ["y"], ["z"]],
            "options": [[], [], []],
            "task_name": ["t"] * 3,
        }
    )
    write_parquet(q, tmp_path / "q.parquet")
    cands = _search(bm25_index, tiny_data, tmp_path, queries=str(tmp_path / "q.parquet"), topk=5)
    assert cands["doc_ids"].map(len).tolist()[:2] == [0, 0]
    assert len(cands["doc_ids"].iloc[2]) > 0


def test_changed_pool_rejected(bm25_index, tiny_data, tmp_path):
    pool = read_parquet(tiny_data["passages"]).iloc[:-1]
    write_parquet(pool, tmp_path / "p.parquet")
    with pytest.raises(ValueError, match="rebuild"):
        bm25.search(
            bm25_index,
            str(tmp_path / "p.parquet"),
            tiny_data["train"],
            str(tmp_path / "c.parquet"),
            **SEARCH,
        )


def test_stemmer_needs_pystemmer(tiny_data, tmp_path):
    pytest.importorskip("bm25s")
    try:
        import Stemmer  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="PyStemmer"):
            bm25.build_index(tiny_data["passages"], str(tmp_path / "i"), **INDEX, stemmer="english")
    else:
        bm25.build_index(tiny_data["passages"], str(tmp_path / "i"), **INDEX, stemmer="english")
        assert read_json(tmp_path / "i" / "params.json")["stemmer"] == "english"
