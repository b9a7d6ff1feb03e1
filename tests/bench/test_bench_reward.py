"""``llmr.models.cross_encoder.score_pairs`` against a plain loop, and ``llmr bench reward`` on tiny data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from llmr.bench.reward import load_cross_encoder, plain_scores
from llmr.cli import main
from llmr.core.schema import section_defaults
from llmr.models import cross_encoder

BUDGET = section_defaults("teacher")["token_budget"]  # the teacher's padded tokens per batch

KEYS = {
    "pairs",
    "real_tokens",
    "baseline_pairs_per_s",
    "llmr_pairs_per_s",
    "speedup",
    "spearman_vs_fp32",
    "bf16_matmul_gflops",
    "fraction_of_bf16_peak",
}

FIRSTS = [
    "Is the apple good?\ngood",
    "Which one?\nthe tiger",
    "x\ny",
    "a long query " * 30 + "\nanswer",
]
SECONDS = ["The apple was great.\ngood", "stone river " * 50, "z", "short"]


@pytest.fixture(scope="module")
def cross(tiny_encoder):
    torch.manual_seed(0)
    return load_cross_encoder(tiny_encoder)


@pytest.mark.parametrize("budget", [16, 64, 100000])
def test_score_pairs_equals_plain_loop_fp32(cross, budget):
    model, tok = cross
    got = cross_encoder.score_pairs(
        model,
        tok,
        FIRSTS,
        SECONDS,
        max_length=48,
        token_budget=budget,
        progress=False,
        precision="fp32",
    )
    ref = plain_scores(model, tok, FIRSTS, SECONDS, max_length=48, batch_size=3)
    assert got.dtype == np.float32 and got.shape == (4,)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_score_pairs_bf16_close_and_model_untouched(cross):
    model, tok = cross
    model.train()
    got = cross_encoder.score_pairs(
        model,
        tok,
        FIRSTS,
        SECONDS,
        max_length=48,
        token_budget=BUDGET,
        progress=False,
        precision="bf16",
    )
    assert model.training and next(model.parameters()).dtype == torch.float32
    model.eval()
    ref = plain_scores(model, tok, FIRSTS, SECONDS, max_length=48)
    np.testing.assert_allclose(got, ref, atol=0.05)
    assert cross_encoder.score_pairs(model, tok, [], [], 48, BUDGET, progress=False).shape == (0,)
    with pytest.raises(ValueError):
        cross_encoder.score_pairs(model, tok, ["a"], [], 48, BUDGET, progress=False)


def test_batches_respect_budget_and_cover_everything():
    lengths = [5, 50, 7, 20, 20, 3, 64]
    batches = list(cross_encoder.token_budget_batches(lengths, 64))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 64
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)


def test_progress_lines(caplog):
    with caplog.at_level(logging.INFO, logger="llmr.models.cross_encoder"):
        bar = cross_encoder.Progress(10, "reward", every=0.0)
        bar.update(4)
        bar.update(6)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0].startswith("reward: 4/10 pairs") and "ETA" in msgs[0]
    assert msgs[-1].startswith("reward: 10/10 pairs")


def test_bench_reward_main_tiny(tiny_encoder, tiny_data, tmp_path):
    out = tmp_path / "r.json"
    data = str(Path(tiny_data["train"]).parent)
    rc = main(
        [
            "bench",
            "reward",
            "--pairs",
            "20",
            "--json",
            str(out),
            "--model",
            tiny_encoder,
            "--data",
            data,
            "--batch-size",
            "4",
            "--precision",
            "fp32",
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert KEYS <= set(res) and res["pairs"] == 20 and res["real_tokens"] > 0
    assert res["speedup"] > 0 and res["fraction_of_bf16_peak"] > 0
    assert res["spearman_vs_fp32"] > 0.999  # fp32 on both sides: the same scores
