"""Seed replicates: seed-averaged predictions and per-seed deltas (llmr.reporting.seeds)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from test_report import _run, _tasks

from llmr.reporting.report import MEAN_ROWS
from llmr.reporting.seeds import combine_seeds


def _seed_dir(tmp_path, name, bm25, learned):
    d = tmp_path / name
    for retriever, scores in (("bm25", bm25), ("llmr1", learned)):
        out = d / "results" / "eval" / retriever / "task_filter"
        out.mkdir(parents=True)
        met, pred = _run(tmp_path, retriever, f"task_filter_{name}", scores)
        shutil.copy(met, out / "metrics.json")
        shutil.copy(pred, out / "predictions.parquet")
        # _run names the variant after the folder; restore the real one
        m = pd.read_json(out / "metrics.json", typ="series")
        m["variant"] = "task_filter"
        (out / "metrics.json").write_text(m.to_json())
    return str(d)


def test_seed_average_and_per_seed_deltas(tmp_path):
    rng = np.random.default_rng(0)
    bm25 = {t: rng.integers(0, 2, 40).astype(float).tolist() for t in ("t1", "t2")}
    bm25["t3"] = rng.random(10).tolist()
    # seed 0 is perfect, seed 1 equals bm25: the seed mean is halfway
    perfect = {t: [1.0] * len(v) for t, v in bm25.items()}
    dirs = [_seed_dir(tmp_path, "s0", bm25, perfect), _seed_dir(tmp_path, "s1", bm25, bm25)]
    tasks = _tasks(tmp_path)
    seeds = combine_seeds(dirs, tasks, str(tmp_path / "out"), n_boot=200)
    avg = pd.read_csv(tmp_path / "out" / "summary_seed_mean.csv")
    t1 = avg[(avg.retriever == "llmr1") & (avg.task == "t1") & (avg.metric == "accuracy")]
    assert t1["value"].iat[0] == pytest.approx(100 * (1 + np.mean(bm25["t1"])) / 2)
    d = seeds[
        (seeds.retriever == "llmr1")
        & (seeds.task == "mean_held_in")
        & (seeds.metric == "delta_vs_bm25")
    ].set_index("seed")["value"]
    assert d[1] == pytest.approx(0.0) and d[0] > 0
    md = (tmp_path / "out" / "seeds.md").read_text()
    assert "2 training seeds" in md and "CI > 0 in every seed" in md and "| no |" in md


def test_missing_predictions_in_a_seed_are_an_error(tmp_path):
    bm25 = {"t1": [1.0, 0.0], "t2": [0.0, 1.0], "t3": [0.5]}
    dirs = [
        _seed_dir(tmp_path, "s0", bm25, bm25),
        _seed_dir(tmp_path, "s1", bm25, {"t1": [1.0], "t2": [0.0, 1.0], "t3": [0.5]}),
    ]
    with pytest.raises(ValueError, match="missing in some seed"):
        combine_seeds(dirs, _tasks(tmp_path), str(tmp_path / "out"), n_boot=10)


def test_retriever_in_some_seeds_is_averaged_over_those(tmp_path):
    bm25 = {"t1": [1.0, 0.0, 0.0, 1.0], "t2": [0.0, 1.0], "t3": [0.5]}
    perfect = {t: [1.0] * len(v) for t, v in bm25.items()}
    dirs = [_seed_dir(tmp_path, "s0", bm25, perfect), _seed_dir(tmp_path, "s1", bm25, bm25)]
    for d in dirs:  # a second learned retriever, evaluated in both seeds
        ev = tmp_path / d / "results" / "eval"
        shutil.copytree(ev / "llmr1", ev / "other")
        m = pd.read_json(ev / "other" / "task_filter" / "metrics.json", typ="series")
        m["retriever"] = "other"
        (ev / "other" / "task_filter" / "metrics.json").write_text(m.to_json())
    shutil.rmtree(tmp_path / "s1" / "results" / "eval" / "llmr1")  # llmr1 only in seed 0
    seeds = combine_seeds(dirs, _tasks(tmp_path), str(tmp_path / "out"), n_boot=10)
    assert set(seeds[seeds.retriever == "llmr1"]["seed"]) == {0}
    assert set(seeds[seeds.retriever == "bm25"]["seed"]) == {0, 1}
    avg = pd.read_csv(tmp_path / "out" / "summary_seed_mean.csv")
    t1 = avg[(avg.retriever == "llmr1") & (avg.task == "t1") & (avg.metric == "accuracy")]
    assert t1["value"].iat[0] == pytest.approx(100.0)  # seed 0's alone, not halved
    md = (tmp_path / "out" / "seeds.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| llmr1"))
    assert "| 1 |" in row  # its number of seeds is shown
    per_seed = [
        line for line in md.split("## Each seed")[1].splitlines() if line.startswith("| llmr1")
    ]
    assert per_seed and "| – |" in per_seed[0] and "nan" not in md


def test_compare_pairs_evaluations_across_run_folders(tmp_path, capsys):
    from llmr.cli import main
    from llmr.reporting.report import compare

    rng = np.random.default_rng(1)
    bm25 = {t: rng.integers(0, 2, 30).astype(float).tolist() for t in ("t1", "t2")}
    bm25["t3"] = rng.random(10).tolist()
    perfect = {t: [1.0] * len(v) for t, v in bm25.items()}
    s0 = _seed_dir(tmp_path, "s0", bm25, perfect)
    s1 = _seed_dir(tmp_path, "s1", bm25, bm25)
    ev = "results/eval/{}/task_filter"
    evals = {
        "bm25": f"{s0}/{ev.format('bm25')}",
        "best": f"{s0}/{ev.format('llmr1')}",
        "avg": f"{s0}/{ev.format('llmr1')},{s1}/{ev.format('llmr1')}",
    }
    tasks = _tasks(tmp_path)
    table = compare(evals, tasks, "bm25", n_boot=200).set_index(["retriever", "task", "metric"])
    held_in = np.mean([np.mean(bm25["t1"]), np.mean(bm25["t2"])])  # t3 is held out
    best = table.loc[("best", "mean_held_in", "delta_vs_bm25")]
    avg = table.loc[("avg", "mean_held_in", "delta_vs_bm25")]
    assert best["value"] == pytest.approx(100 * (1 - held_in))
    assert avg["value"] == pytest.approx(best["value"] / 2)  # seed 1 equals bm25
    assert best["ci_low"] > 0
    assert (
        main(
            ["compare"]
            + [f"{k}={v}" for k, v in evals.items()]
            + ["--baseline", "bm25", "--tasks", tasks]
        )
        == 0
    )
    # task families: held-in tasks by type (t1 classification, t2 multiple choice; t3 held out)
    fam = compare(evals, tasks, "bm25", n_boot=200, families=True)
    fam = fam.set_index(["retriever", "task", "metric"])["value"]
    assert {t for _, t, _ in fam.index} == {
        *MEAN_ROWS,
        "family:classification",
        "family:multiple_choice",
    }
    for family, task in (("classification", "t1"), ("multiple_choice", "t2")):
        got = fam[("best", f"family:{family}", "delta_vs_bm25")]
        assert got == pytest.approx(100 * (1 - np.mean(bm25[task])))
    rows = compare(evals, tasks, "bm25", n_boot=200, per_task=True)
    t1 = rows[(rows.retriever == "best") & (rows.task == "t1") & (rows.metric == "delta_vs_bm25")]
    assert t1["value"].iat[0] == pytest.approx(100 * (1 - np.mean(bm25["t1"])))
    capsys.readouterr()
    assert (
        main(
            ["compare"]
            + [f"{k}={v}" for k, v in evals.items()]
            + ["--baseline", "bm25", "--tasks", tasks, "--per-task"]
        )
        == 0
    )
    t1_line = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| t1 |")
    )
    cells = [c.strip() for c in t1_line.strip("|").split("|")]
    # task, n, bm25, best, Δ best, avg, Δ avg
    assert cells[1] == "30" and cells[3] == "100.0"
    assert cells[4].startswith(f"{100 * (1 - np.mean(bm25['t1'])):+.1f}")
    capsys.readouterr()
    args = [f"{k}={v}" for k, v in evals.items()] + ["--baseline", "bm25", "--tasks", tasks]
    assert main(["compare", *args, "--families"]) == 0
    assert "| family:multiple_choice | 30 |" in capsys.readouterr().out
    short = _seed_dir(tmp_path, "s2", bm25, {"t1": [1.0], "t2": [0.0], "t3": [0.5]})
    with pytest.raises(ValueError, match="different queries"):
        compare(
            {"bm25": evals["bm25"], "x": f"{s0}/{ev.format('llmr1')},{short}/{ev.format('llmr1')}"},
            tasks,
            "bm25",
            n_boot=10,
        )
