"""Agreement of scorers with LLM scores on held-back queries (llmr.evaluation.agreement)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from llmr.core.schema import stage_defaults
from llmr.evaluation.agreement import COLUMNS, agreement, ndcg_at_k, rank_relevance, spearman, top1

from helpers.tiny import synthetic_scores


def test_rank_relevance_and_ndcg_by_hand():
    llm = np.array([-1.0, -3.0, -0.5, -2.0, -100.5])
    np.testing.assert_array_equal(rank_relevance(llm), [2, 0, 3, 1, 0])
    rel = rank_relevance(llm)
    assert ndcg_at_k(llm, rel) == pytest.approx(1.0)
    # scorer ranks candidates 1, 0, 2 first: gains 0, 3, 7 at positions 1..3
    idcg = 7 + 3 / math.log2(3) + 1 / 2
    dcg = 0 + 3 / math.log2(3) + 7 / 2
    assert ndcg_at_k(np.array([4.0, 5.0, 3.0, 0.0, 0.0]), rel) == pytest.approx(dcg / idcg)
    assert math.isnan(ndcg_at_k(np.array([1.0, 2.0]), np.zeros(2)))
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 5.0, 9.0])) == pytest.approx(1.0)
    assert math.isnan(spearman(np.array([1.0, 1.0]), np.array([1.0, 2.0])))
    assert top1(np.array([0.1, 0.9, 0.5]), np.array([-1.0, -0.5, -2.0])) == 1.0
    assert top1(np.array([0.9, 0.1, 0.5]), np.array([-1.0, -0.5, -2.0])) == 0.0


def test_agreement_csv(tiny_data, tiny_encoder, tmp_path):
    scores = str(tmp_path / "round0.parquet")
    synthetic_scores(tiny_data["train"], tiny_data["passages"], tiny_data["tasks"], scores)
    rm = tmp_path / "rm"
    AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=1).save_pretrained(
        rm
    )
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(rm)
    out = tmp_path / "agreement.csv"
    settings = stage_defaults(
        agreement, "teacher", "reward", "models", "heldback_fraction", "precision"
    )
    agreement(
        0, scores, tiny_data["passages"], tiny_encoder, str(rm), tiny_encoder, str(out),
        **settings | {"heldback_fraction": 0.3},
        encode_length=64,
        bm25_candidates=scores,  # BM25 scores = LLM scores here
    )  # fmt: skip
    df = pd.read_csv(out)
    assert list(df.columns) == COLUMNS
    assert set(df["scorer"]) == {"random", "bm25", "base_encoder", "reward", "retriever"}
    assert set(df["metric"]) == {"spearman", "ndcg@3", "top1"}
    assert (df["round"] == 0).all()
    every = df[df.task == "all"]
    assert (every["n"] > 0).all()
    assert set(df["task"]) - {"all"} <= {"cls_sent", "mc_pick", "gen_echo"}
    bm25 = every[every.scorer == "bm25"].set_index("metric")["value"]
    assert bm25["spearman"] == pytest.approx(1.0) and bm25["ndcg@3"] == pytest.approx(1.0)
    assert bm25["top1"] == pytest.approx(1.0)
    per_task = df[(df.task != "all") & (df.scorer == "bm25") & (df.metric == "top1")]
    assert (
        per_task["n"].sum()
        == every[(every.scorer == "bm25") & (every.metric == "top1")]["n"].iat[0]
    )


def test_label_share_by_hand(tmp_path, capsys):
    from llmr.cli import main
    from llmr.evaluation.agreement import label_share

    passages = pd.DataFrame(
        {
            "id": ["a1", "a2", "a3", "b1", "c1"],
            "contents": ["q\nyes", "q\nno", "q\nyes", "q\nyes", "x\nB"],
            "task_name": ["A", "A", "A", "B", "C"],
        }
    )
    tasks = pd.DataFrame(
        {
            "task_name": ["A", "B", "C"],
            "task_type": ["classification", "classification", "multiple_choice"],
        }
    )
    ranked = pd.DataFrame(
        {
            "query_id": ["A-1", "A-2", "C-1"],
            "task_name": ["A", "A", "C"],
            "answers": [["yes"], ["no"], ["A"]],
            "options": [[], [], ["x", "y"]],
            # top 2 = a1 (yes, match), b1 (other task: no match) -> 0.5
            # top 2 = a2 (no, match), a3 (yes) -> 0.5; ties keep candidate order
            "doc_ids": [["a2", "a1", "b1"], ["a2", "a3", "a1"], ["c1"]],
            "doc_scores": [[0.0, 2.0, 1.0], [1.0, 1.0, 1.0], [1.0]],
        }
    )
    share = label_share(ranked, passages, tasks, k=2)
    assert share["A"] == pytest.approx(0.5) and share["all"] == pytest.approx(0.5)
    assert "C" not in share  # not a classification task
    ranked.loc[0, "doc_scores"] = [0.0, 2.0, -1.0]  # a1, a2: one match of two
    assert label_share(ranked, passages, tasks, k=1)["A"] == pytest.approx(1.0)
    for name, df in (("p", passages), ("t", tasks), ("r", ranked)):
        df.to_parquet(tmp_path / f"{name}.parquet")
    assert (
        main(
            [
                "label-share",
                f"x={tmp_path / 'r.parquet'}",
                "--k",
                "1",
                "--passages",
                str(tmp_path / "p.parquet"),
                "--tasks",
                str(tmp_path / "t.parquet"),
                "--without-queries-of",
                str(tmp_path / "r.parquet"),
            ]
        )
        == 0
    )
    assert "| all | – |" in capsys.readouterr().out  # every query excluded
