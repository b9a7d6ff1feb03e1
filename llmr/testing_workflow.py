"""Helpers to run the Snakemake workflow on the tiny suite (used by the workflow tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_PARTS = ("Snakefile", "rules", "workflow_scripts", "schemas", "profiles", "llmr", "report",
                  "environment.yml", "pyproject.toml",
                  "config.yaml")


def copy_workflow(dst: Path) -> Path:
    """Copy the workflow and the llmr sources to ``dst`` (so tests may edit the copy)."""
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / part)
    return dst


def tiny_config(suite_dir: str, lm: str, encoder: str, rounds: int = 1) -> dict:
    """A config for the tiny suite with tiny models; every stage trains for a few steps."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["suite"].update(source="released", released_dir=str(suite_dir),
                        tasks=["cls_sent", "mc_pick", "gen_echo"], held_out=["gen_echo"],
                        max_train_per_task=None, max_test_per_task=None)
    cfg["models"].update(llm=str(lm), encoder=str(encoder), reward_init=str(encoder))
    cfg["rounds"] = rounds
    cfg["score"].update(shards=2, max_queries_per_task=12, n_candidates=8, max_length=256)
    cfg["bm25"]["topk"] = 20
    for sec in ("reward", "retriever"):
        cfg[sec].update(steps=4, batch_size=4, max_length=64)
    cfg["eval"].update(k=2, max_test_per_task=4, max_new_tokens=8, max_length=256, n_boot=50,
                       retrievers=["zero_shot", "random", "bm25", "base", "kmeans", "epr", "llmr"])
    return cfg


def write_config(workdir: Path, cfg: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` with the llmr sources of ``workdir`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(workdir) + os.pathsep + env.get("PYTHONPATH", "")
    exe = Path(sys.executable).parent / "snakemake"
    cmd = [str(exe) if exe.exists() else "snakemake", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rules and job counts that a dry run plans (empty dict: nothing to do)."""
    proc = snakemake(workdir, "-n", *args)
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    jobs: dict[str, int] = {}
    m = re.search(r"Job stats:\s*\n\s*job\s+count\s*\n[-\s]+\n(.*?)\n\s*total\s+(\d+)", out, re.S)
    if not m:
        raise RuntimeError(f"could not parse the dry run:\n{out[-3000:]}")
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs
