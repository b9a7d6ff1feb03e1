"""scripts/gpu_check.sh: skips cleanly without CUDA; its distributed check runs on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: the script runs for real")
def test_gpu_check_skips_without_cuda(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(
        [str(REPO / "scripts/gpu_check.sh"), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA device; skipped" in proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_gathered_negatives_check_on_two_cpu_processes(tmp_path):
    """The 2-process distillation check (gloo on CPU): gathered negatives give each process
    the full batch's loss for its rows, and differ from the local-only loss."""
    out = tmp_path / "d.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(REPO / "scripts/gpu_check.py"),
            "--distributed",
            "--device",
            "cpu",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"d.json.rank{r}").read_text()) for r in (0, 1)]
    for r, res in enumerate(ranks):
        assert res["rank"] == r and res["world"] == 2 and res["backend"] == "gloo"
        assert res["matches_full_batch"] and res["negatives_change_loss"], res
    assert ranks[0]["loss"] != ranks[1]["loss"]


def test_paper_shapes_check_runs_shrunk_on_cpu():
    """Check 5's code path on CPU at 1/32 of the paper's widths, depths and batches."""
    sys.path.insert(0, str(REPO / "scripts"))
    import gpu_check

    out = gpu_check.check_paper_shapes("cpu", shrink=32)
    assert out["llama_non_embedding_params"] > 0
    for key in ("llama7b_pairs_200", "llama7b_prompts_900"):
        assert out[key]["tokens_per_s"] > 0 and out[key]["tflops"] > 0
    for key in ("bert_base", "minilm_l6"):
        assert out[key]["train_sequences_per_s_256tok"] > 0
