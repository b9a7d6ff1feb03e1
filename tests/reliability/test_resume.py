"""Kill -9 and resume: a stage killed mid-run (a child process sends itself SIGKILL at a fixed
point, so nothing gets to clean up) and then rerun gives the same result as an uninterrupted
run (CPU, fp32, fixed seed), and redoes only the unfinished work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from llmr.core import device
from llmr.core.io import read_json, read_parquet, write_parquet
from llmr.core.schema import stage_defaults, training_defaults
from llmr.models import lm
from llmr.scoring import score

from helpers.tiny import synthetic_scores

KILLABLE = Path(__file__).with_name("killable.py")


@pytest.fixture(autouse=True)
def fp32(monkeypatch):
    monkeypatch.setenv("LLMR_CPU_BF16", "0")
    device.cpu_has_native_bf16.cache_clear()
    yield
    device.cpu_has_native_bf16.cache_clear()


def run_killed(stage: str, kill_at: int, **kwargs) -> None:
    """Run ``stage`` in a child process that SIGKILLs itself at ``kill_at``; check it died."""
    proc = subprocess.run(
        [sys.executable, str(KILLABLE), stage, str(kill_at), json.dumps(kwargs)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr[-3000:])
    assert "finished without being killed" not in proc.stdout


# ------------------------------------------------------------------------------ LLM scoring


@pytest.fixture(scope="module")
def cands(tiny_data, tmp_path_factory):
    train = read_parquet(tiny_data["train"])
    pool = list(read_parquet(tiny_data["passages"])["id"])
    rng = np.random.default_rng(0)
    train["doc_ids"] = [
        [pool[i] for i in rng.choice(len(pool), 6, replace=False)] for _ in range(len(train))
    ]
    train["doc_scores"] = [list(np.linspace(1, 0, 6)) for _ in range(len(train))]
    path = str(tmp_path_factory.mktemp("cands") / "round0.parquet")
    write_parquet(train, path)
    return path


def test_llm_scoring_resumes_after_kill(tiny_data, tiny_lm, cands, tmp_path, monkeypatch):
    kw = dict(
        candidates=cands,
        passages=tiny_data["passages"],
        tasks=tiny_data["tasks"],
        model=tiny_lm,
        **stage_defaults(score.score_shard, "score", "precision")
        | {"n_candidates": 4, "chunk_size": 16, "seed": 3},
    )
    ref_out = tmp_path / "ref.parquet"
    score.score_shard(out=str(ref_out), **kw)
    ref = read_parquet(str(ref_out))
    n_chunks = -(-sum(map(len, ref.doc_ids)) // 16)
    assert n_chunks >= 5

    out = tmp_path / "run.parquet"
    run_killed("score", 3, out=str(out), **kw)  # killed in its 3rd chunk: 2 chunks flushed
    assert not out.exists()
    partial = sorted(p.name for p in Path(f"{out}.partial").glob("chunk-*.parquet"))
    assert partial == ["chunk-000000.parquet", "chunk-000001.parquet"]

    calls = []
    real = lm.score_continuations
    monkeypatch.setattr(lm, "score_continuations", lambda *a, **k: calls.append(1) or real(*a, **k))
    score.score_shard(out=str(out), **kw)
    assert len(calls) == n_chunks - 2  # only the unfinished chunks reach the model
    got = read_parquet(str(out))
    assert got.query_id.tolist() == ref.query_id.tolist()
    assert got.doc_ids.tolist() == ref.doc_ids.tolist()
    np.testing.assert_array_equal(
        np.concatenate(got.doc_scores.tolist()), np.concatenate(ref.doc_scores.tolist())
    )
    assert not Path(f"{out}.partial").exists()


# ------------------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def llm_scores(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("scores") / "round0.parquet")
    synthetic_scores(tiny_data["train"], tiny_data["passages"], tiny_data["tasks"], out)
    return out


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    files = sorted(folder.glob("*.safetensors"))
    assert files, f"{folder}: no safetensors weights"
    out: dict[str, torch.Tensor] = {}
    for f in files:
        out.update(load_file(str(f)))
    return out


TRAIN = dict(max_length=48, steps=5, batch_size=4, lr=1e-3, save_steps=2, seed=7)


@pytest.mark.parametrize("stage, kill_at", [("reward", 3), ("retriever", 3), ("reward:save", 4)])
def test_training_resumes_after_kill(stage, kill_at, tiny_data, tiny_encoder, llm_scores, tmp_path):
    """Killed after step 3, or while writing checkpoint-4 (a job stopped mid-save): the rerun
    resumes from checkpoint-2 (a half-written checkpoint is removed, never loaded) and ends
    with the uninterrupted run's weights."""
    from llmr.training.distill import train_retriever
    from llmr.training.reward import train_reward

    train = train_reward if stage.startswith("reward") else train_retriever
    first = "scores" if stage.startswith("reward") else "teacher"
    extra = {"n_negatives": 3}

    def kwargs(folder: Path) -> dict:
        return {
            first: [llm_scores],
            "passages": tiny_data["passages"],
            "tasks": tiny_data["tasks"],
            "init_model": tiny_encoder,
            "out_dir": str(folder / "model"),
            "metrics_out": str(folder / "m.json"),
            **training_defaults(stage.split(":")[0]) | TRAIN | extra,
        }

    train(**kwargs(tmp_path / "ref"))
    ref = read_json(tmp_path / "ref" / "m.json")

    run = tmp_path / "run"
    run_killed(stage, kill_at, **kwargs(run))
    assert not (run / "model").exists() and not (run / "m.json").exists()
    assert (run / "model.ckpt" / "checkpoint-2" / "trainer_state.json").is_file()
    partial = run / "model.ckpt" / "checkpoint-4"
    if stage.endswith(":save"):  # weights on disk, the state not: a half-written checkpoint
        assert (partial / "model.safetensors").is_file()
        assert not (partial / "trainer_state.json").exists()

    train(**kwargs(run))
    got = read_json(run / "m.json")
    assert got["resumed_from"].endswith("checkpoint-2") and got["steps"] == TRAIN["steps"]
    assert [s for s, _ in got["loss_curve"]] == [s for s, _ in ref["loss_curve"]]
    np.testing.assert_allclose(
        [v for _, v in got["loss_curve"]], [v for _, v in ref["loss_curve"]], rtol=1e-5, atol=1e-6
    )
    a, b = _weights(run / "model"), _weights(tmp_path / "ref" / "model")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    assert not (run / "model.ckpt").exists()


# ------------------------------------------------------------------------------ evaluation


def test_evaluation_resumes_after_kill(tiny_data, tiny_lm, tmp_path, monkeypatch):
    import pandas as pd

    from llmr.evaluation.evaluate import evaluate
    from llmr.evaluation.prompts import build_prompts

    test = read_parquet(tiny_data["test"]).groupby("task_name").head(3)
    test_path, prompts = str(tmp_path / "test.parquet"), str(tmp_path / "prompts.parquet")
    write_parquet(test, test_path)
    build_prompts(
        test_path,
        tiny_data["passages"],
        tiny_data["tasks"],
        prompts,
        method="random",
        **stage_defaults(build_prompts, "eval", "models") | {"k": 2},
    )

    def kwargs(folder: Path) -> dict:
        return dict(
            prompts=prompts,
            test=test_path,
            tasks=tiny_data["tasks"],
            model=tiny_lm,
            out_predictions=str(folder / "pred.parquet"),
            out_metrics=str(folder / "metrics.json"),
            retriever="random",
            variant="task_filter",
            **stage_defaults(evaluate, "eval", "precision") | {"max_new_tokens": 6},
        )

    evaluate(**kwargs(tmp_path / "ref"))
    run = tmp_path / "run"
    run_killed("evaluate", 2, **kwargs(run))  # killed in its second task's model call
    assert not (run / "pred.parquet").exists() and not (run / "metrics.json").exists()
    assert len(list((run / "pred.parquet.partial").glob("task-*.parquet"))) == 1

    names = ("score_options", "constrained_decode", "greedy_generate")
    calls = []
    for name in names:
        real = getattr(lm, name)
        monkeypatch.setattr(lm, name, lambda *a, _r=real, **k: calls.append(1) or _r(*a, **k))
    evaluate(**kwargs(run))
    assert len(calls) == 2  # the finished task is taken from the partial folder
    pd.testing.assert_frame_equal(
        read_parquet(str(run / "pred.parquet")),
        read_parquet(str(tmp_path / "ref" / "pred.parquet")),
    )
    assert read_json(run / "metrics.json") == read_json(tmp_path / "ref" / "metrics.json")
    assert not (run / "pred.parquet.partial").exists()


# ------------------------------------------------------------------------------ reward scoring


def test_reward_scoring_after_kill_gives_the_same_teacher(
    tiny_data, tiny_encoder, llm_scores, tmp_path
):
    """reward_score has no partial output: a killed run leaves nothing, and the rerun (from the
    start) writes the same teacher table as an uninterrupted run."""
    from llmr.training.reward import reward_score, train_reward

    train_reward(
        scores=[llm_scores],
        passages=tiny_data["passages"],
        tasks=tiny_data["tasks"],
        init_model=tiny_encoder,
        out_dir=str(tmp_path / "rm"),
        metrics_out=str(tmp_path / "rm.json"),
        **training_defaults("reward") | TRAIN | {"steps": 2, "n_negatives": 3},
    )
    kw = dict(
        model_dir=str(tmp_path / "rm"),
        candidates=[llm_scores],
        passages=tiny_data["passages"],
        **stage_defaults(reward_score, "teacher", "reward", "precision")
        | {"topk": 8, "max_length": 48, "token_budget": 512},
    )
    reward_score(out=str(tmp_path / "ref.parquet"), **kw)
    out = tmp_path / "run" / "teacher.parquet"
    run_killed("reward_score", 2, out=str(out), **kw)  # killed in its second forward pass
    assert not out.exists() and [p for p in out.parent.rglob("*") if p.is_file()] == []
    reward_score(out=str(out), **kw)
    got, ref = read_parquet(str(out)), read_parquet(str(tmp_path / "ref.parquet"))
    assert got.query_id.tolist() == ref.query_id.tolist()
    assert got.doc_ids.tolist() == ref.doc_ids.tolist()
    np.testing.assert_array_equal(
        np.concatenate(got.doc_scores.tolist()), np.concatenate(ref.doc_scores.tolist())
    )
