"""llmr estimate: the work a config asks for, and a duration that follows it."""

from __future__ import annotations

from pathlib import Path

import yaml

from llmr.bench import estimate
from llmr.cli import main

REPO = Path(__file__).resolve().parents[2]


def _default() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_work_of_the_default_config():
    cfg = _default()
    w = estimate.work(cfg)
    held_in = len(cfg["suite"]["tasks"]) - len(cfg["suite"]["held_out"])
    assert w["llm_pairs"] == held_in * cfg["score"]["max_queries_per_task"] * 32
    assert w["teacher_pairs"] == held_in * cfg["suite"]["max_train_per_task"] * 30
    # LLM-R, llm_kd and EPR
    assert w["retriever_steps"] == 2 * cfg["retriever"]["steps"] + cfg["epr"]["steps"]
    assert w["reward_steps"] == cfg["reward"]["steps"]


def test_estimate_follows_the_work_and_the_precision(monkeypatch):
    cfg = _default()
    base = estimate.estimate_seconds(cfg, "bf16")
    longer = {**cfg, "retriever": {**cfg["retriever"], "steps": cfg["retriever"]["steps"] * 2}}
    assert estimate.estimate_seconds(longer, "bf16") > base
    assert estimate.estimate_seconds(cfg, "fp32") > 2 * base
    fewer = {**cfg, "eval": {**cfg["eval"], "retrievers": ["bm25"]}}
    assert estimate.estimate_seconds(fewer, "bf16") < base


def test_main_prints_precision_and_minutes(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LLMR_CPU_BF16", "0")
    extra = tmp_path / "extra.yaml"
    extra.write_text("precision: fp32\nretriever: {steps: 10}\n")
    assert main(["estimate", "--config", str(REPO / "config.yaml"), "--config", str(extra)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("llmr: precision fp32") and "minutes" in line
