"""``llmr estimate``: the precision a run will use and roughly how long it will take here.

``make run`` prints this before the first job. The estimate multiplies the work a config
asks for (LLM-scored pairs, teacher pairs, training steps, evaluation prompts) by per-unit
costs measured on this project's 2-core machines (docs/BENCHMARKS.md, docs/results): one
set for CPUs with native bf16 (AVX512-BF16 or AMX), one for fp32 CPUs. It is a rough
guide (±50%): job times on these machines vary with load, task lengths and the CPU model;
on a GPU it is not meaningful and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmr.core.device import pick_device, resolve_precision


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per unit of work on a 2-core CPU of one precision."""

    llm_pair: float  # one LLM-scored (query, candidate) pair
    teacher_pair: float  # one cross-encoder (teacher) pair
    reward_step: float  # one reward-model step of 8 groups of 8
    retriever_step: float  # one retriever step of 16 groups of 4
    eval_prompt: float  # one 8-shot evaluation prompt
    fixed: float  # resources, data, BM25, indexes, reports


# bf16: llmr bench train (2026-12-02, AMD EPYC AVX512-BF16: reward 0.72 steps/s, retriever
# 0.93 steps/s); teacher 170-190 pairs/s and 68-200 s per 400 prompts on an AMX Xeon; LLM
# scoring 2 shards of 2,304 pairs in about 10 min each. fp32: the 2-core EPYC without bf16
# (docs/results "Cost": 6,056 s for 4,608 scored pairs under load, 28 teacher pairs/s,
# 9 s per reward step, 6.3 s per retriever step alone, about 12 min per 400 prompts).
COSTS = {
    "bf16": UnitCosts(0.26, 1 / 180, 1.4, 1.07, 0.35, 180.0),
    "fp32": UnitCosts(1.0, 1 / 28, 9.0, 6.3, 1.8, 300.0),
}
LLM_EVALUATED = {"random", "bm25", "base", "epr", "llm_kd", "llmr", "kmeans", "gold_label"}


def work(cfg: dict[str, Any]) -> dict[str, float]:
    """Units of work of a config: scored pairs, teacher pairs, steps, prompts."""
    suite = cfg.get("suite", {})
    tasks = list(suite.get("tasks") or [])
    held_in = [t for t in tasks if t not in set(suite.get("held_out") or [])]
    per_task = suite.get("max_train_per_task") or 200
    tests = (suite.get("max_test_per_task") or 50) * len(tasks)
    ev = cfg.get("eval", {})
    if ev.get("max_test_per_task"):
        tests = min(tests, ev["max_test_per_task"] * len(tasks))
    score, teacher, rounds = cfg.get("score", {}), cfg.get("teacher", {}), cfg.get("rounds", 1)
    q_scored = score.get("max_queries_per_task") or per_task
    retrievers = list(ev.get("retrievers") or [])
    n_eval = sum(rounds if r == "llmr" else 1 for r in retrievers if r in LLM_EVALUATED)
    n_eval += len(ev.get("extra_retrievers") or {})
    n_eval *= len(ev.get("variants") or ["task_filter"])
    steps = cfg.get("retriever", {}).get("steps", 0) * rounds
    steps += cfg.get("retriever", {}).get("steps", 0) if "llm_kd" in retrievers else 0
    steps += cfg.get("epr", {}).get("steps", 0) if "epr" in retrievers else 0
    zero = tests if "zero_shot" in retrievers else 0
    return {
        "llm_pairs": len(held_in) * q_scored * score.get("n_candidates", 32) * rounds,
        "teacher_pairs": len(held_in) * per_task * teacher.get("topk", 30) * rounds,
        "reward_steps": cfg.get("reward", {}).get("steps", 0) * rounds,
        "retriever_steps": steps,
        "eval_prompts": tests * n_eval + zero / 8,  # zero-shot prompts are ~1/8 as long
    }


def estimate_seconds(cfg: dict[str, Any], precision: str) -> float:
    """Rough wall seconds of a whole run of ``cfg`` on a 2-core CPU of ``precision``."""
    c = COSTS["bf16" if precision == "bf16" else "fp32"]
    w = work(cfg)
    return (
        c.fixed
        + w["llm_pairs"] * c.llm_pair
        + w["teacher_pairs"] * c.teacher_pair
        + w["reward_steps"] * c.reward_step
        + w["retriever_steps"] * c.retriever_step
        + w["eval_prompts"] * c.eval_prompt
    )


def describe(cfg: dict[str, Any]) -> str:
    """One line: precision, device, rough duration of the whole run."""
    precision = resolve_precision(cfg.get("precision", "auto"))
    device = pick_device()
    if device != "cpu":
        return f"llmr: precision {precision} on {device}; no time estimate for GPUs"
    minutes = estimate_seconds(cfg, precision) / 60
    why = "native bf16" if precision == "bf16" else "no native bf16: fp32"
    return (
        f"llmr: precision {precision} on the CPU ({why}); a whole run of this config takes "
        f"roughly {minutes:.0f} minutes on 2 cores (less for what is already built)"
    )


def estimate_command(*, config: list[str]) -> int:
    """``llmr estimate [--config config.yaml ...]``: later files override earlier ones."""
    cfg: dict[str, Any] = {}
    for path in config or ["config.yaml"]:
        cfg = _merge(cfg, yaml.safe_load(Path(path).read_text()) or {})
    print(describe(cfg))
    return 0


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
