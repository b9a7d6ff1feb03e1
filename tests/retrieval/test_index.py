"""Dense FAISS index and search (llmr.retrieval.index) with the tiny random encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmr.core.io import CANDIDATE_FIELDS, read_json, read_parquet, write_parquet
from llmr.core.records import content_hash, query_hash
from llmr.core.schema import stage_defaults
from llmr.models.encoder import load_encoder
from llmr.retrieval import index as dense

INDEX = stage_defaults(dense.build_index, "models", "retriever")  # what the rule dense_index passes
SEARCH = stage_defaults(dense.search, "bm25", "models", "retriever")  # ... and search_topk


@pytest.fixture(scope="module")
def flat_index(tiny_encoder, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("dense") / "flat"
    dense.build_index(tiny_encoder, tiny_data["passages"], str(out), **INDEX | {"max_length": 64})
    return str(out)


def _search(idx, enc, data, tmp_path, name="c.parquet", **kw):
    out = tmp_path / name
    queries = kw.pop("queries", data["train"])
    dense.search(idx, enc, data["passages"], queries, str(out), **SEARCH | {"max_length": 64} | kw)
    return read_parquet(out)


def test_files_and_meta(flat_index, tiny_data, tiny_encoder):
    pool = read_parquet(tiny_data["passages"])
    emb = np.load(f"{flat_index}/embeddings.npy")
    assert emb.shape[0] == len(pool) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert read_json(f"{flat_index}/ids.json") == pool["id"].tolist()
    meta = read_json(f"{flat_index}/meta.json")
    assert meta["index_type"] == "flat" and meta["pooling"] == "mean"
    assert meta["encoder_fingerprint"] == dense.encoder_fingerprint(tiny_encoder)
    assert "recall_at_10" not in meta


def test_flat_matches_bruteforce(flat_index, tiny_encoder, tiny_data, tmp_path):
    cands = _search(flat_index, tiny_encoder, tiny_data, tmp_path, topk=5, exclude_self=False)
    emb = np.load(f"{flat_index}/embeddings.npy")
    ids = read_json(f"{flat_index}/ids.json")
    model, tok = load_encoder(tiny_encoder)
    q = dense.encode(model, tok, cands["query"].tolist(), prefix="", pooling="mean", max_length=64)
    sims = q @ emb.T  # (Q, N)
    for r, row in enumerate(cands.itertuples()):
        np.testing.assert_allclose(row.doc_scores, np.sort(sims[r])[::-1][:5], atol=1e-4)
        assert sims[r, [ids.index(d) for d in row.doc_ids]][0] == pytest.approx(
            sims[r].max(), abs=1e-4
        )


def test_self_exclusion_columns_determinism(flat_index, tiny_encoder, tiny_data, tmp_path):
    pool = read_parquet(tiny_data["passages"])
    hash_of = dict(zip(pool["id"], map(content_hash, pool["contents"]), strict=True))
    a = _search(flat_index, tiny_encoder, tiny_data, tmp_path, "a.parquet", topk=8)
    b = _search(flat_index, tiny_encoder, tiny_data, tmp_path, "b.parquet", topk=8)
    pd.testing.assert_frame_equal(a, b)
    assert tuple(a.columns) == CANDIDATE_FIELDS
    for row in a.itertuples():
        assert len(row.doc_ids) == 8 and all(isinstance(s, float) for s in row.doc_scores)
        h = query_hash(row.query, row.answers, row.options)
        assert all(hash_of[d] != h for d in row.doc_ids)


def test_trec_and_empty_query(flat_index, tiny_encoder, tiny_data, tmp_path):
    q = pd.DataFrame(
        {
            "query_id": ["e", "x"],
            "query": ["", "apple"],
            "answers": [["a"], ["b"]],
            "options": [[], []],
            "task_name": ["t", "t"],
        }
    )
    write_parquet(q, tmp_path / "q.parquet")
    run = tmp_path / "run.trec"
    cands = _search(
        flat_index,
        tiny_encoder,
        tiny_data,
        tmp_path,
        topk=3,
        queries=str(tmp_path / "q.parquet"),
        run_file=str(run),
    )
    assert cands["doc_ids"].map(len).tolist() == [3, 3]  # empty query: still encoded
    lines = [line.split(" ") for line in run.read_text().splitlines()]
    assert len(lines) == 6 and {len(x) for x in lines} == {6}
    assert [x[3] for x in lines[:3]] == ["1", "2", "3"] and lines[0][1] == "Q0"


def test_long_query_truncated(tiny_encoder, tiny_data, flat_index, tmp_path):
    model, tok = load_encoder(tiny_encoder)
    long = " ".join(["apple river cloud"] * 400)  # ~1200 tokens > 512 positions
    a = dense.encode(model, tok, [long], prefix="", pooling="mean", max_length=32)
    b = dense.encode(model, tok, [long + " tiger violin"], prefix="", pooling="mean", max_length=32)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert dense.model_max_length(model, tok, 4096) == 512
    q = pd.DataFrame(
        {
            "query_id": ["l"],
            "query": [long],
            "answers": [["a"]],
            "options": [[]],
            "task_name": ["t"],
        }
    )
    write_parquet(q, tmp_path / "q.parquet")
    out = tmp_path / "c.parquet"
    dense.search(
        flat_index,
        tiny_encoder,
        tiny_data["passages"],
        str(tmp_path / "q.parquet"),
        str(out),
        **SEARCH | {"topk": 2, "max_length": 4096},
    )
    assert len(read_parquet(out)["doc_ids"].iloc[0]) == 2


def test_causal_lm_rejected(tiny_lm, tiny_data, tmp_path):
    with pytest.raises(ValueError, match="causal"):
        dense.build_index(tiny_lm, tiny_data["passages"], str(tmp_path / "idx"), **INDEX)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_records_recall(kind, tiny_encoder, tiny_data, tmp_path):
    out = tmp_path / kind
    dense.build_index(
        tiny_encoder,
        tiny_data["passages"],
        str(out),
        index_type=kind,
        recall_k=5,
        nlist=2,
        **INDEX | {"max_length": 32},
    )
    meta = read_json(out / "meta.json")
    assert 0.0 <= meta["recall_at_5"] <= 1.0 and meta["index_type"] == kind
    cands = _search(str(out), tiny_encoder, tiny_data, tmp_path, topk=4)
    assert cands["doc_ids"].map(len).max() <= 4


def test_errors(flat_index, tiny_encoder, tiny_data, tmp_path):
    with pytest.raises(ValueError, match="pooling"):
        _search(flat_index, tiny_encoder, tiny_data, tmp_path, pooling="cls")
    with pytest.raises(ValueError, match="index_type"):
        dense.build_index(
            tiny_encoder, tiny_data["passages"], str(tmp_path / "x"), index_type="lsh", **INDEX
        )
    empty = pd.DataFrame(
        {
            "id": pd.Series([], dtype=str),
            "contents": pd.Series([], dtype=str),
            "task_name": pd.Series([], dtype=str),
        }
    )
    write_parquet(empty, tmp_path / "e.parquet")
    with pytest.raises(ValueError, match="empty"):
        dense.build_index(tiny_encoder, str(tmp_path / "e.parquet"), str(tmp_path / "y"), **INDEX)
