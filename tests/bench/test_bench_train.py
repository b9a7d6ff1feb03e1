"""``llmr bench train`` on a tiny encoder: JSON keys, equal first-step losses, token counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from llmr.bench import train as bench_train
from llmr.cli import main
from llmr.core.schema import training_defaults
from llmr.training.groups import GroupSampler
from llmr.training.loop import GroupDataset, group_spec

from helpers.tiny import synthetic_scores

PATH_KEYS = {
    "seconds",
    "steps_per_s",
    "real_tokens",
    "padded_tokens",
    "real_tokens_per_s",
    "padded_tokens_per_s",
    "achieved_gflops",
    "fraction_of_bf16_peak",
    "first_step_loss",
    "grad_accum",
    "micro_batch_groups",
}
MODEL_KEYS = {
    "llmr",
    "today",
    "baseline",
    "speedup_vs_today",
    "speedup_vs_baseline",
    "first_step_loss_abs_diff_today",
    "first_step_loss_abs_diff_baseline",
    "token_budget",
    "non_embedding_parameters",
}
TOP_KEYS = {
    "reward",
    "retriever",
    "reward_speedup_vs_today",
    "retriever_speedup_vs_today",
    "reward_speedup_vs_baseline",
    "retriever_speedup_vs_baseline",
    "flops_formula",
    "fraction_of_bf16_peak",
    "bf16_matmul_gflops",
    "peak_gflops",
    "peak_rss_gb",
}


def test_bench_train_main_tiny_synthetic(tiny_encoder, tmp_path):
    out = tmp_path / "train.json"
    rc = main([
        "bench", "train", "--json", str(out), "--model", tiny_encoder, "--synthetic", "--steps", "2",
        "--warmup", "1", "--reward-batch", "4", "--retriever-batch", "4",
        "--reward-max-length", "320", "--retriever-max-length", "160", "--token-budget", "5120",
        "--no-dropout",
    ])  # fmt: skip
    assert rc == 0
    res = json.loads(out.read_text())
    assert TOP_KEYS <= set(res) and res["data"].startswith("synthetic")
    for kind in ("reward", "retriever"):
        assert MODEL_KEYS <= set(res[kind])
        llmr, base, today = (res[kind][p] for p in ("llmr", "baseline", "today"))
        assert PATH_KEYS <= set(llmr) and PATH_KEYS <= set(base) and PATH_KEYS <= set(today)
        # the same groups: the same real tokens; only the padding differs
        assert llmr["real_tokens"] == base["real_tokens"] == today["real_tokens"] > 0
        assert llmr["real_tokens"] <= llmr["padded_tokens"] < base["padded_tokens"]
        assert llmr["padded_tokens"] == today["padded_tokens"]
        assert res[kind]["speedup_vs_baseline"] > 0 and llmr["fraction_of_bf16_peak"] > 0
        # the fast kernels compute today's loss (no dropout)
        assert res[kind]["first_step_loss_abs_diff_today"] < 1e-4
    rm = res["reward"]
    # 5120-token budget, groups of 8 x 320 tokens: 2 groups per micro-batch, 2 accumulated
    assert (rm["llmr"]["micro_batch_groups"], rm["llmr"]["grad_accum"]) == (2, 2)
    assert (rm["baseline"]["micro_batch_groups"], rm["baseline"]["grad_accum"]) == (4, 1)
    assert rm["baseline"]["padded_tokens"] == 2 * 4 * 8 * 320  # steps x groups x G x max_len
    # (4 queries + 4 x 4 passages) x 160 tokens per step
    assert res["retriever"]["baseline"]["padded_tokens"] == 2 * (4 + 16) * 160
    # listwise CE is per group: accumulated micro-batches give the full batch's loss
    assert rm["first_step_loss_abs_diff_baseline"] < 1e-4
    # retriever: groups of 4 x 160 tokens fit whole into the budget, so no accumulation and
    # the same in-batch negatives on both paths
    assert res["retriever"]["llmr"]["grad_accum"] == 1
    assert res["retriever"]["first_step_loss_abs_diff_baseline"] < 1e-4


@pytest.fixture(scope="module")
def suite(tiny_data, tmp_path_factory):
    scores = str(tmp_path_factory.mktemp("scores") / "round0.parquet")
    synthetic_scores(tiny_data["train"], tiny_data["passages"], tiny_data["tasks"], scores)
    data, how = bench_train.load_suite(str(Path(tiny_data["passages"]).parent), scores)
    assert how.startswith("LLM scores")
    return data


def test_reward_tokens_counted_from_the_real_groups(tiny_encoder, suite):
    """Real tokens of the timed steps = the unpadded pair lengths of the groups those steps
    draw (the group stream in order, after the warm-up step)."""
    max_length, batch, warmup, steps = 40, 3, 1, 2
    res = bench_train.bench_model(
        "reward",
        tiny_encoder,
        suite,
        batch,
        max_length,
        token_budget=8 * max_length,
        steps=steps,
        warmup=warmup,
        dropout=False,
    )
    spec = group_spec(training_defaults("reward"), drop_same_label=False)
    sampler = GroupSampler(
        suite.train,
        suite.pool,
        spec.n_negatives,
        spec.pos_top,
        spec.neg_bottom,
        spec.drop_same_label,
        42,
    )
    items = GroupDataset(sampler, (warmup + steps) * batch)
    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    texts = [
        f"{q}\n{g}" for q, g in zip(suite.train.frame["query"], suite.train.golds, strict=True)
    ]
    expected = 0
    for i in range(warmup * batch, (warmup + steps) * batch):
        it = items[i]
        enc = tok(
            [texts[it["qi"]]] * spec.size,
            [suite.pool.contents[int(d)] for d in it["docs"]],
            truncation="longest_first",
            max_length=max_length,
        )
        expected += sum(len(x) for x in enc["input_ids"])
    assert res["llmr"]["grad_accum"] == batch  # one group per micro-batch
    assert res["llmr"]["real_tokens"] == res["baseline"]["real_tokens"] == expected
    assert res["baseline"]["padded_tokens"] == steps * batch * spec.size * max_length
    assert res["first_step_loss_abs_diff_baseline"] < 1e-4
    assert res["first_step_loss_abs_diff_today"] < 1e-4


def test_long_inputs_probe_both_models(tiny_encoder):
    """--long-inputs measures each model in its own process, per batch size."""
    res = bench_train.long_inputs(tiny_encoder, [2, 4], [4096], max_length=64, steps=1)
    assert [(r["kind"], r["batch_size"]) for r in res["runs"]] == [
        ("reward", 2),
        ("reward", 4),
        ("retriever", 2),
        ("retriever", 4),
    ]
    assert set(res["by_token_budget"]) == {"reward:4096", "retriever:4096"}
    for r in res["runs"]:
        assert r["peak_rss_gb"] > 0 and r["real_tokens"] > 0
        assert r["micro_batch_groups"] * r["grad_accum"] == r["batch_size"]
