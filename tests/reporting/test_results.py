"""Published results folders (llmr.reporting.results): files, rendering, and the committed docs/results."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import _tasks
from test_seeds import _seed_dir

from llmr.reporting.results import FILES, KEPT_PREDICTION_COLUMNS, publish, render

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "results"


def _runs(tmp_path):
    rng = np.random.default_rng(1)
    bm25 = {t: rng.integers(0, 2, 30).astype(float).tolist() for t in ("t1", "t2")}
    bm25["t3"] = rng.random(12).tolist()
    better = {t: [min(1.0, x + 0.5) for x in v] for t, v in bm25.items()}
    tasks = _tasks(tmp_path)
    dirs = [_seed_dir(tmp_path, "s0", bm25, better), _seed_dir(tmp_path, "s1", bm25, bm25)]
    for i, d in enumerate(dirs):
        (Path(d) / "results/data").mkdir(parents=True)
        shutil.copy(tasks, Path(d) / "results/data/tasks.parquet")
        pd.DataFrame(
            {
                "round": [1, 1],
                "scorer": ["reward", "retriever"],
                "metric": ["spearman"] * 2,
                "value": [0.3 + i, 0.2],
                "n": [9, 9],
                "task": ["all", "all"],
            }
        ).to_csv(Path(d) / "results/eval/agreement.csv", index=False)
        bench = Path(d) / "benchmarks/train/reward1.tsv"
        bench.parent.mkdir(parents=True)
        bench.write_text("s\th:m:s\tmax_rss\tcpu_time\n12.5\t0:00:12\t900.0\t20.0\n")
    return dirs


def test_publish_writes_every_file_and_renders_from_them(tmp_path):
    dirs = _runs(tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    (out / "training_curves.png").write_bytes(b"a previous publication's curves")
    text = publish(dirs, str(out), command="scripts/seed_replicates.sh cfg out 2", n_boot=100)
    for name in (*FILES, "summary.md", "delta_vs_bm25.png"):
        assert (out / name).exists(), name
    assert not (out / "training_curves.png").exists()  # these runs have none: not kept stale
    assert text == (out / "summary.md").read_text() == render(str(out))
    assert "scripts/seed_replicates.sh cfg out 2" in text and "2 training seeds" in text
    summary = pd.read_csv(out / "summary.csv")
    # seed 0 adds 0.5 (capped at 1) per query, seed 1 adds nothing: the seed mean is in between
    d = summary[
        (summary.retriever == "llmr1")
        & (summary.task == "mean_all")
        & (summary.metric == "delta_vs_bm25")
    ]["value"].iat[0]
    assert 0 < d < 50
    timings = pd.read_csv(out / "timings.csv")
    assert set(timings["seed"]) == {0, 1} and (timings["max_rss_mb"] == 900.0).all()
    assert sorted(pd.read_csv(out / "agreement.csv")["seed"].unique()) == [0, 1]


def test_published_runs_are_run_folders_that_republish_the_same(tmp_path):
    """runs/seed<i>/ keeps each seed's evaluations (the per-query scores only): publishing
    from those copies gives the same summary as from the original run folders, so a seed run
    later can be added to the published ones."""
    dirs = _runs(tmp_path)
    out = tmp_path / "results"
    publish(dirs, str(out), command="x", n_boot=100)
    kept = [out / "runs" / f"seed{i}" for i in range(len(dirs))]
    pred = pd.read_parquet(kept[0] / "results/eval/llmr1/task_filter/predictions.parquet")
    assert set(pred.columns) <= set(KEPT_PREDICTION_COLUMNS) and {"query_id", "score"} <= set(pred)
    again = tmp_path / "again"
    publish([str(k) for k in kept], str(again), command="x", n_boot=100)
    pd.testing.assert_frame_equal(
        pd.read_csv(again / "summary.csv"), pd.read_csv(out / "summary.csv")
    )


def test_render_follows_the_csv(tmp_path):
    """A changed number in summary.csv changes summary.md: the two cannot drift silently."""
    out = tmp_path / "results"
    publish(_runs(tmp_path), str(out), command="x", n_boot=50)
    before = render(str(out))
    summary = pd.read_csv(out / "summary.csv")
    summary.loc[
        (summary.retriever == "llmr1")
        & (summary.task == "mean_all")
        & (summary.metric == "delta_vs_bm25"),
        "value",
    ] = 42.0
    summary.to_csv(out / "summary.csv", index=False)
    after = render(str(out))
    assert after != before and "+42.0" in after


def test_committed_results_match_their_tables():
    """docs/results/summary.md is exactly what its committed CSV/JSON files render to."""
    assert (COMMITTED / "summary.md").exists(), "docs/results/ has not been published"
    assert render(str(COMMITTED)) == (COMMITTED / "summary.md").read_text()


@pytest.mark.parametrize("name", FILES)
def test_committed_results_are_complete(name):
    assert (COMMITTED / name).exists()
