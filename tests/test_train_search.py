"""scripts/train_search.py: the rule's hyperparameters, and candidates equal to FAISS search
(the same scores; tied passages may come in another order)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import train_search  # noqa: E402


def test_retriever_params_follow_the_rule():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    p = train_search.retriever_params(config, training_seed=2, steps=600)
    assert p["seed"] == config["retriever"]["seed"] + 2
    assert p["steps"] == 600 and p["lr"] == config["retriever"]["lr"]
    assert p["heldback_fraction"] == config["heldback_fraction"]
    assert p["pooling"] == config["models"]["pooling"]
    assert train_search.retriever_params(config, 0, None)["steps"] == config["retriever"]["steps"]


def test_candidates_equal_the_pipelines_faiss_search(tiny_data, tiny_encoder, tmp_path):
    from llmr.retrieval.index import build_index, search

    data = tmp_path / "data"
    data.mkdir()
    for k in ("passages", "tasks"):
        shutil.copy(tiny_data[k], data / f"{k}.parquet")
    shutil.copy(tiny_data["test"], data / "test_eval.parquet")
    hp = {"pooling": "mean", "query_prefix": "", "passage_prefix": "", "max_length": 48}
    train_search.search_candidates(tiny_encoder, data, tmp_path / "mine", 5, hp)
    pooling, query_prefix, passage_prefix, max_length = hp.values()
    build_index(
        tiny_encoder,
        tiny_data["passages"],
        str(tmp_path / "index"),
        pooling=pooling,
        passage_prefix=passage_prefix,
        max_length=max_length,
    )
    search(
        str(tmp_path / "index"),
        tiny_encoder,
        tiny_data["passages"],
        tiny_data["test"],
        str(tmp_path / "faiss.parquet"),
        topk=5,
        pooling=pooling,
        query_prefix=query_prefix,
        max_length=max_length,
    )
    mine = pd.read_parquet(tmp_path / "mine" / "candidates.parquet")
    ref = pd.read_parquet(tmp_path / "faiss.parquet")
    assert list(mine["query_id"]) == list(ref["query_id"])
    assert all(len(x) == 5 for x in mine["doc_ids"])
    for docs, scores, rdocs, rscores in zip(
        mine["doc_ids"], mine["doc_scores"], ref["doc_ids"], ref["doc_scores"], strict=True
    ):
        assert np.allclose(scores, rscores, atol=1e-5)  # same ranked scores
        # the same passages above the cut-off score (tied ones may swap or cross the cut)
        cut = min(scores) + 1e-5
        assert {d for d, x in zip(docs, scores, strict=True) if x > cut} == {
            d for d, x in zip(rdocs, rscores, strict=True) if x > cut
        }
