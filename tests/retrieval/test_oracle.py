"""The gold-label reference line (llmr.retrieval.oracle)."""

from __future__ import annotations

from llmr.core.io import read_parquet
from llmr.core.records import gold_text, passage_label
from llmr.retrieval.oracle import gold_label_candidates


def test_gold_label_candidates(tiny_data, tmp_path):
    out = str(tmp_path / "gold.parquet")
    gold_label_candidates(
        tiny_data["test"], tiny_data["passages"], tiny_data["tasks"], out, topk=5, seed=1
    )
    cand = read_parquet(out)
    pool = read_parquet(tiny_data["passages"]).set_index("id")
    test = read_parquet(tiny_data["test"])
    assert list(cand["query_id"]) == list(test["query_id"])
    for rec in cand.to_dict("records"):
        assert 0 < len(rec["doc_ids"]) <= 5
        assert list(rec["doc_scores"]) == sorted(rec["doc_scores"], reverse=True)
        gold = gold_text(rec["answers"], rec["options"]).strip()
        for d in rec["doc_ids"]:
            assert pool.at[d, "task_name"] == rec["task_name"]
            if rec["task_name"] == "cls_sent":  # classification: the gold label only
                assert passage_label(pool.at[d, "contents"]).strip() == gold
            assert pool.at[d, "contents"].split("\n")[0] != rec["query"] or d != rec["query_id"]
    again = str(tmp_path / "again.parquet")
    gold_label_candidates(
        tiny_data["test"], tiny_data["passages"], tiny_data["tasks"], again, topk=5, seed=1
    )
    assert read_parquet(again)["doc_ids"].tolist() == cand["doc_ids"].tolist()
