"""SLURM: the GPU profile's requests, and preemption on a real cluster (single node, started
by scripts/slurm_single_node.sh; .ci/run starts it). A scoring job and a training job are
cancelled mid-run with scancel; the stages resume from their flushed chunks and their last
checkpoint and end with exactly the results of an uninterrupted local run.
The whole DAG under SLURM, compared with a local run, is in test_workflow.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.workflow import (
    REPO,
    Runner,
    copy_workflow,
    make_workdir,
    slurm_up,
    snakemake,
    snakemake_command,
    stage_inputs,
    tiny_config,
    workflow_runner,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

GPU_RULES = {
    "llm_score",
    "llm_eval",
    "train_reward",
    "reward_score",
    "train_retriever",
    "train_epr",
    "dense_index",
    "search_topk",
    "eval_candidates_dense",
    "agreement",
}
SLURM_ARGS = ("--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "1")
SCORES = "results/scores/round0.parquet"
REWARD = "results/models/reward1"


def dry_run_resources(out: str) -> dict[str, str]:
    """{rule: its resources line} from a dry run's job listing (the last job of each rule)."""
    found = {}
    for m in re.finditer(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", out, re.M):
        found[m.group(1)] = m.group(2)
    return found


def test_gpu_profile_requests_gpus_for_model_stages(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    profile = yaml.safe_load((REPO / "profiles/slurm-gpu/config.yaml").read_text())
    rules = set(snakemake(wd, "--list-rules").stdout.split())
    assert set(profile["set-resources"]) <= rules, set(profile["set-resources"]) - rules
    proc = snakemake(wd, "-n", "--profile", "profiles/slurm-gpu", "--forceall")
    resources = dry_run_resources(proc.stdout + proc.stderr)
    assert {"llm_score", "train_reward", "train_retriever", "llm_eval"} <= set(resources)
    for rule, line in resources.items():
        assert ("gpu=1" in line) == (rule in profile["set-resources"]), (rule, line)
    # and the CPU profile asks for none
    proc = snakemake(wd, "-n", "--profile", "profiles/slurm", "--forceall")
    assert not any("gpu" in line for line in dry_run_resources(proc.stdout).values())


@pytest.fixture(scope="module")
def runner():
    try:
        return workflow_runner()
    except PermissionError as err:
        pytest.fail(str(err))  # only in CI: elsewhere the runner falls back to root


def slurm_job(user: str, rule: str) -> str | None:
    """Id of the user's running SLURM job of ``rule`` (the plugin's comment names the rule)."""
    out = subprocess.run(
        ["squeue", "-h", "-u", user, "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        job, _, comment = line.partition(" ")
        if comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards"):
            return job
    return None


def cancel_when(
    runner: Runner,
    proc: subprocess.Popen,
    log: Path,
    rule: str,
    ready: Callable[[], bool],
    timeout: float = 900,
) -> str:
    """When ``ready()``, scancel the running job of ``rule`` (as its user); returns its id."""
    user = runner.user or os.environ.get("USER") or subprocess.getoutput("id -un")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(
                f"snakemake ended before {rule} could be cancelled:\n{log.read_text()[-3000:]}"
            )
        if ready():
            job = slurm_job(user, rule)
            if job:
                runner.run(["scancel", job])
                return job
        time.sleep(0.05)
    pytest.fail(f"{rule} never became ready to cancel")


def model_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return {
        f.name + ":" + k: v
        for f in sorted(folder.glob("*.safetensors"))
        for k, v in load_file(f).items()
    }


@pytest.fixture
def preempt_setup(runner, tiny_suite_dir, tiny_lm, tiny_encoder):
    """Config with many small scoring chunks and a checkpoint every training step."""
    if not slurm_up():
        message = "no SLURM cluster: run `scripts/slurm_single_node.sh start` (root) first"
        if os.environ.get("LLMR_REQUIRE_SLURM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    base = make_workdir(runner, "llmr-preempt-")
    inputs = stage_inputs(base / "inputs", tiny_suite_dir, tiny_lm, tiny_encoder)
    cfg = tiny_config(inputs["suite"], inputs["lm"], inputs["encoder"])
    cfg["score"].update(shards=1, max_queries_per_task=None, n_candidates=16, chunk_size=2)
    cfg["reward"].update(steps=30, save_steps=1)
    dirs = {}
    for name in ("ref", "slurm"):
        dirs[name] = copy_workflow(base / name)
        write_config(dirs[name], cfg)
    runner.own(base)
    yield dirs
    shutil.rmtree(base, ignore_errors=True)


def test_cancelled_jobs_resume_and_match_uninterrupted_run(runner, preempt_setup):
    ref, wd = preempt_setup["ref"], preempt_setup["slurm"]
    snakemake(ref, REWARD, runner=runner)  # uninterrupted, local

    # 1. cancel the scoring job after its first flushed chunks; a rerun resumes from them
    partial = wd / "results/scores/round0/shard_1-of-1.parquet.partial"
    log = wd / "run-score.log"
    proc = runner.popen(snakemake_command(*SLURM_ARGS, "--retries", "0", SCORES), wd, log)
    cancel_when(runner, proc, log, "llm_score", lambda: any(partial.glob("chunk-*.parquet")))
    assert proc.wait(timeout=600) != 0, log.read_text()[-3000:]
    assert not (wd / SCORES).exists()
    snakemake(wd, *SLURM_ARGS, SCORES, runner=runner)
    text = (wd / "logs/score/round0/shard_1-of-1.log").read_text()
    resumed = re.findall(r"resumed (\d+) of (\d+) chunks", text)
    assert resumed, text[-3000:]
    done, total = map(int, resumed[-1])
    assert 0 < done < total
    pd.testing.assert_frame_equal(pd.read_parquet(wd / SCORES), pd.read_parquet(ref / SCORES))

    # 2. cancel the training job after two checkpoints; the profile's retry resumes it
    ckpt = wd / (REWARD + ".ckpt")
    log = wd / "run-train.log"
    proc = runner.popen(snakemake_command(*SLURM_ARGS, REWARD), wd, log)
    cancel_when(
        runner,
        proc,
        log,
        "train_reward",
        lambda: len(list(ckpt.glob("checkpoint-*/trainer_state.json"))) >= 2,
    )
    assert proc.wait(timeout=900) == 0, log.read_text()[-3000:]
    metrics = json.loads((wd / (REWARD + ".metrics.json")).read_text())
    assert metrics["resumed_from"] and "checkpoint-" in metrics["resumed_from"], metrics
    ref_metrics = json.loads((ref / (REWARD + ".metrics.json")).read_text())
    assert ref_metrics["resumed_from"] is None
    got, want = model_tensors(wd / REWARD), model_tensors(ref / REWARD)
    assert got.keys() == want.keys() and got
    differ = [k for k in want if not (got[k] == want[k]).all()]
    assert not differ, f"resumed weights differ from the uninterrupted run: {differ[:5]}"
