"""``llmr bench score`` on the tiny model and tiny suite."""

from __future__ import annotations

import json
from pathlib import Path

from llmr.cli import main

KEYS = {
    "pairs",
    "real_tokens",
    "baseline_tokens_per_s",
    "llmr_tokens_per_s",
    "speedup",
    "spearman_vs_fp32",
    "bf16_matmul_gflops",
    "fp32_matmul_gflops",
    "fraction_of_bf16_peak",
}


def test_bench_main_tiny(tiny_lm, tiny_data, tmp_path):
    out, dump = tmp_path / "b.json", tmp_path / "pairs.jsonl"
    data = str(Path(tiny_data["train"]).parent)
    rc = main(
        [
            "bench",
            "score",
            "--pairs",
            "12",
            "--json",
            str(out),
            "--dump-pairs",
            str(dump),
            "--model",
            tiny_lm,
            "--data",
            data,
            "--no-compile",
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert KEYS <= set(res) and res["pairs"] == 12
    assert res["real_tokens"] > 0 and res["speedup"] > 0
    assert -1.0 <= res["spearman_vs_fp32"] <= 1.0
    lines = [json.loads(x) for x in dump.read_text().splitlines()]
    assert len(lines) == 12 and set(lines[0]) == {"input", "output"}
