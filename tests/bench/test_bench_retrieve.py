"""``llmr bench retrieve`` on a tiny pool and a tiny fake BIG-bench folder."""

from __future__ import annotations

import json

import numpy as np

from llmr.bench.retrieve import SUMMARY_KEYS, overlap
from llmr.cli import main

WORDS = "apple river cloud stone tiger violin pepper anchor falcon meadow harbor lantern".split()


def _fake_bigbench(root, n=40):
    rng = np.random.default_rng(0)
    for task in ("fake_a", "fake_b"):
        examples = [
            {"input": " ".join(rng.choice(WORDS, 5)), "target": str(rng.choice(WORDS))}
            for _ in range(n)
        ]
        (root / task).mkdir(parents=True)
        (root / task / "task.json").write_text(json.dumps({"name": task, "examples": examples}))


def test_overlap():
    a = np.array([[0, 1, 2], [3, 4, -1]])
    b = np.array([[2, 1, 5], [4, 3, -1]])
    assert overlap(a, b, 3) == (2 / 3 + 1.0) / 2


def test_bench_main_tiny(tiny_data, tiny_encoder, tmp_path):
    _fake_bigbench(tmp_path / "bb")
    out = tmp_path / "bench.json"
    rc = main(
        [
            "bench",
            "retrieve",
            "--json",
            str(out),
            "--pool-parquet",
            tiny_data["passages"],
            "--queries-parquet",
            tiny_data["train"],
            "--encoder",
            tiny_encoder,
            "--bigbench-dir",
            str(tmp_path / "bb"),
            "--bigbench-tasks",
            "fake_a",
            "fake_b",
            "--large-pool-size",
            "60",
            "--queries",
            "10",
            "--rank-bm25-queries",
            "5",
            "--topk",
            "5",
            "--repeats",
            "1",
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    for key in SUMMARY_KEYS:
        assert res[key] > 0, key
        for pool in ("default", "large"):
            assert key in res["pools"][pool]
    assert res["pools"]["large"]["n_passages"] == 60
    assert res["pools"]["large"]["rank_bm25_queries"] == 5
    assert res["dense_topk_overlap"] == 1.0 and res["bm25_topk_overlap"] >= 0.95
