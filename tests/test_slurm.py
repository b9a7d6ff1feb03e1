"""The same workflow submitted to a real SLURM cluster (single node, started by
scripts/slurm_single_node.sh; .ci/run starts it before the tests)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pandas as pd
import pytest

from llmr.testing_workflow import copy_workflow, snakemake, tiny_config, write_config

pytestmark = [pytest.mark.slow, pytest.mark.workflow]


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["timeout", "20", "srun", "-N1", "true"],
                          capture_output=True).returncode == 0


def test_scatter_scoring_runs_as_slurm_jobs(tmp_path, tiny_suite_dir, tiny_lm, tiny_encoder):
    if not _slurm_up():
        message = "no SLURM cluster: run `scripts/slurm_single_node.sh start` first"
        if os.environ.get("LLMR_REQUIRE_SLURM") == "1":  # CI starts one and requires it
            pytest.fail(message)
        pytest.skip(message)
    wd = copy_workflow(tmp_path)
    write_config(wd, tiny_config(tiny_suite_dir, tiny_lm, tiny_encoder))
    proc = snakemake(wd, "--profile", "profiles/slurm", "--jobs", "4",
                     "--slurm-init-seconds-before-status-checks", "1",
                     "results/scores/round0.parquet")
    out = proc.stdout + proc.stderr
    assert "Job" in out and "has been submitted with SLURM jobid" in out, out[-3000:]
    scores = pd.read_parquet(wd / "results/scores/round0.parquet")
    assert len(scores) == 24
    # both scoring shards ran as SLURM jobs and logged through Snakemake's log files
    logs = sorted((wd / "logs/score/round0").glob("shard_*.log"))
    assert len(logs) == 2
