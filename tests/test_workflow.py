"""The whole DAG on the tiny suite with tiny models, then what reruns when something changes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from llmr.testing_workflow import copy_workflow, planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

def config_variant(cfg: dict, path, **changes) -> str:
    """Write ``cfg`` with ``changes`` (nested keys joined by ``__``) to ``path``."""
    cfg2 = yaml.safe_load(yaml.safe_dump(cfg))
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = cfg2
        for k in parents:
            node = node[k]
        node[last] = value
    path.write_text(yaml.safe_dump(cfg2))
    return str(path)


EVAL_JOBS = {"build_prompts", "llm_eval", "summary", "report_examples", "all"}


@pytest.fixture(scope="module")
def done_run(tmp_path_factory, tiny_suite_dir, tiny_lm, tiny_encoder):
    """A complete tiny run (rounds=1); returns (workdir, config)."""
    wd = copy_workflow(tmp_path_factory.mktemp("wf"))
    cfg = tiny_config(tiny_suite_dir, tiny_lm, tiny_encoder, rounds=1)
    write_config(wd, cfg)
    snakemake(wd)
    return wd, cfg


def test_complete_run_outputs(done_run):
    wd, _ = done_run
    summary = pd.read_csv(wd / "results/eval/summary.csv")
    cols = ["retriever", "variant", "task", "category", "metric", "value", "n", "ci_low", "ci_high"]
    assert list(summary.columns[: len(cols)]) == cols
    assert {"zero_shot", "random", "bm25", "base", "kmeans", "epr", "llmr1"} <= set(
        summary.retriever
    )
    agreement = pd.read_csv(wd / "results/eval/agreement.csv")
    assert {"bm25", "base_encoder", "reward", "retriever"} <= set(agreement.scorer)
    metrics = json.loads((wd / "results/eval/llmr1/task_filter/metrics.json").read_text())
    assert metrics
    scores = pd.read_parquet(wd / "results/scores/round0.parquet")
    assert len(scores) == 24  # 12 queries of each held-in task, both shards gathered
    for r in ("reward1", "retriever1", "epr"):
        assert (wd / f"results/models/{r}/config.json").exists()
    assert (wd / "benchmarks/score/round0").is_dir()


def test_nothing_reruns_after_complete_run(done_run):
    wd, _ = done_run
    assert planned_jobs(wd) == {}


def test_changed_eval_setting_reruns_only_evaluation(done_run, tmp_path):
    wd, cfg = done_run
    path = config_variant(cfg, tmp_path / "k3.yaml", eval__k=3)
    jobs = planned_jobs(wd, "--configfile", path)
    # k changes the number of test candidates retrieved (5·k) too
    assert set(jobs) <= EVAL_JOBS | {"eval_candidates_bm25", "eval_candidates_dense"}
    assert jobs["llm_eval"] >= 7


def test_changed_reward_lr_reruns_reward_and_downstream(done_run, tmp_path):
    wd, cfg = done_run
    path = config_variant(cfg, tmp_path / "lr.yaml", reward__lr=1e-4)
    jobs = planned_jobs(wd, "--configfile", path)
    assert {"train_reward", "reward_score", "train_retriever", "agreement"} <= set(jobs)
    assert "llm_score" not in jobs and "bm25_topk" not in jobs and "train_epr" not in jobs
    assert "prepare" not in jobs


def test_changed_scorer_code_reruns_scoring_and_downstream(done_run, tmp_path):
    wd, _ = done_run
    src = wd / "llmr" / "score.py"
    original = src.read_text()
    try:
        src.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(wd)
    finally:
        src.write_text(original)
    assert {"llm_score", "gather_scores", "train_reward", "train_retriever"} <= set(jobs)
    assert "bm25_topk" not in jobs and "prepare" not in jobs


def test_bad_config_key_is_rejected_before_any_job(done_run, tmp_path):
    wd, cfg = done_run
    path = config_variant(cfg, tmp_path / "bad.yaml", reward__learning_rate=1e-4)
    proc = snakemake(wd, "-n", "--configfile", path, check=False)
    assert proc.returncode != 0
    assert "learning_rate" in proc.stdout + proc.stderr


def test_given_teacher_starts_at_distillation(done_run, tmp_path):
    wd, cfg = done_run
    teacher = pd.read_parquet(wd / "results/teacher/round0.parquet")
    src = tmp_path / "kd_train.jsonl.gz"
    teacher.to_json(src, orient="records", lines=True, compression="gzip")
    given = {"candidates": None, "scores": None, "teacher": [str(src)]}
    path = config_variant(cfg, tmp_path / "given.yaml", given=given)
    jobs = planned_jobs(wd, "--configfile", path)
    assert {"given_teacher", "train_retriever"} <= set(jobs)
    assert "llm_score" not in jobs and "train_reward" not in jobs


def test_given_scores_skip_bm25_and_scoring(done_run, tmp_path):
    wd, cfg = done_run
    src = tmp_path / "scores.jsonl.gz"
    pd.read_parquet(wd / "results/scores/round0.parquet").to_json(
        src, orient="records", lines=True, compression="gzip")
    given = {"candidates": None, "scores": str(src), "teacher": []}
    path = config_variant(cfg, tmp_path / "given.yaml", given=given)
    jobs = planned_jobs(wd, "--configfile", path, "--forceall")
    assert "given_scores" in jobs and "train_reward" in jobs
    assert "llm_score" not in jobs and "bm25_topk" not in jobs


def test_report_renders(done_run):
    wd, _ = done_run
    snakemake(wd, "--report", "report.html")
    html = (wd / "report.html").read_text(errors="replace")
    assert len(html) > 10_000
    for name in ("summary.csv", "training_curves.png", "examples.html", "agreement.csv"):
        assert name in html, name


def test_missing_local_model_path_is_rejected(done_run, tmp_path):
    wd, cfg = done_run
    path = config_variant(cfg, tmp_path / "bad_model.yaml", models__llm="/nonexistent/llm-folder")
    proc = snakemake(wd, "-n", "--configfile", path, check=False)
    assert proc.returncode != 0
    assert "models.llm: local model path '/nonexistent/llm-folder' does not exist" in (
        proc.stdout + proc.stderr)
