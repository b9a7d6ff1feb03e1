"""``llmr bench eval`` on the tiny model and tiny suite: every task type, same predictions."""

from __future__ import annotations

import json
from pathlib import Path

from llmr.bench.evaluate import build_workload
from llmr.cli import main


def test_workload_has_every_task_type(tiny_data):
    work = build_workload(str(Path(tiny_data["train"]).parent), per_task=3, k=2)
    assert {w["type"] for w in work} == {"classification", "multiple_choice", "generation"}
    for w in work:
        assert 0 < len(w["prompts"]) <= 3
        assert all(p.count("\n\n") == 2 for p in w["prompts"])  # two demos, then the query


def test_bench_eval_main_tiny(tiny_lm, tiny_data, tmp_path):
    out = tmp_path / "e.json"
    data = str(Path(tiny_data["train"]).parent)
    rc = main(
        [
            "bench",
            "eval",
            "--per-task",
            "4",
            "--k",
            "2",
            "--json",
            str(out),
            "--model",
            tiny_lm,
            "--data",
            data,
            "--batch-size",
            "3",
            "--token-budget",
            "256",
            "--max-new-tokens",
            "6",
            "--precision",
            "fp32",
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert {
        "speedup",
        "fraction_of_bf16_peak",
        "llmr_prompts_per_s",
        "llmr_tokens_per_s",
        "identical_predictions",
    } <= set(res)
    assert set(res["by_type"]) == {"classification", "multiple_choice", "generation"}
    assert res["identical_predictions"] is True and res["predictions_differing"] == 0
    assert res["prompts"] == sum(v["prompts"] for v in res["by_type"].values())


def test_shared_prefix_tokens():
    from llmr.bench.evaluate import shared_prefix_tokens

    assert shared_prefix_tokens([[1, 2, 3], [1, 2, 4], [5]]) == 2
    assert shared_prefix_tokens([[1, 2], [1, 2], [1, 2, 3]]) == 4
    assert shared_prefix_tokens([[7]]) == 0
