"""Report: bootstrap CIs, paired deltas, summary.csv/md, plot, timings, HTML examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmr.core.io import write_json
from llmr.core.schema import stage_defaults
from llmr.reporting.report import (
    SUMMARY_COLUMNS,
    bootstrap_mean_ci,
    examples_html,
    parse_timings,
    summarize,
)


def test_bootstrap_contains_mean_and_zero_width_for_constant():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, 50).astype(float)
    point, low, high = bootstrap_mean_ci([x], n_boot=500, seed=0)
    assert point == pytest.approx(x.mean()) and low < point < high
    assert bootstrap_mean_ci([np.zeros(10)], 200) == (0.0, 0.0, 0.0)
    # mean of task means, not of pooled examples
    assert bootstrap_mean_ci([np.ones(2), np.zeros(8)], 50)[0] == pytest.approx(0.5)
    assert all(np.isnan(bootstrap_mean_ci([np.zeros(0)], 10)))
    assert bootstrap_mean_ci([x], 300, seed=3) == bootstrap_mean_ci([x], 300, seed=3)


def _tasks(tmp_path):
    df = pd.DataFrame(
        {
            "task_name": ["t1", "t2", "t3"],
            "task_type": ["classification", "multiple_choice", "generation"],
            "metric": ["accuracy", "accuracy", "rouge"],
            "held_out": [False, False, True],
            "labels": [["a", "b"], [], []],
        }
    )
    path = str(tmp_path / "tasks.parquet")
    df.to_parquet(path, index=False)
    return path


def _run(tmp_path, retriever, variant, scores: dict[str, list[float]]):
    rows = []
    for task, vals in scores.items():
        for i, s in enumerate(vals):
            rows.append(
                {
                    "query_id": f"{task}_{i}",
                    "task_name": task,
                    "query": f"query {i} <b>",
                    "prompt": "p",
                    "prediction": "a",
                    "gold": ["a"],
                    "score": s,
                    "demo_task_match": 1.0,
                    "demo_label_match": 0.5 if task == "t1" else np.nan,
                }
            )
    name = f"{retriever}_{variant}"
    pred = str(tmp_path / f"{name}.parquet")
    pd.DataFrame(rows).to_parquet(pred, index=False)
    met = str(tmp_path / f"{name}.json")
    metric = {"t1": "accuracy", "t2": "accuracy", "t3": "rougeL"}
    write_json(
        {
            "retriever": retriever,
            "variant": variant,
            "tasks": {t: {"metric": metric[t], "n": len(v)} for t, v in scores.items()},
        },
        met,
    )
    return met, pred


def test_summarize(tmp_path):
    rng = np.random.default_rng(1)
    base = {t: rng.integers(0, 2, 20).astype(float).tolist() for t in ("t1", "t2")}
    base["t3"] = rng.random(10).tolist()
    better = {t: [1.0] * len(v) for t, v in base.items()}
    runs = [
        _run(tmp_path, "bm25", "task_filter", base),
        _run(tmp_path, "same", "task_filter", base),
        _run(tmp_path, "oracle", "task_filter", better),
    ]
    bench = tmp_path / "benchmarks" / "llm_eval"
    bench.mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "a.tsv").write_text(header + "10.0\t0:00:10\t100.5\t1\t1\t1\t0\t0\t50\t9.0\n")
    (bench / "b.tsv").write_text(header + "30.0\t0:00:30\t200.0\t1\t1\t1\t0\t0\t50\t29.0\n")
    (tmp_path / "benchmarks" / "prepare.tsv").write_text(
        header + "1\t0:00:01\t-\t-\t-\t-\t-\t-\t-\t-\n"
    )
    timings = sorted(str(p) for p in (tmp_path / "benchmarks").rglob("*.tsv"))
    agreement = tmp_path / "agree.csv"
    pd.DataFrame({"pair": ["bm25-same"], "overlap": [0.42]}).to_csv(agreement, index=False)
    out = {k: str(tmp_path / f"summary.{k}") for k in ("csv", "md", "png")}
    summarize(
        [m for m, _ in runs],
        [p for _, p in runs],
        _tasks(tmp_path),
        out["csv"],
        out["md"],
        out["png"],
        **stage_defaults(summarize, "eval") | {"n_boot": 200},
        agreement=str(agreement),
        timings=timings,
        out_timings=str(tmp_path / "timings.csv"),
    )
    df = pd.read_csv(out["csv"])
    assert list(df.columns) == list(SUMMARY_COLUMNS)
    main = df[~df["metric"].str.startswith("delta")]
    assert len(main) == 3 * (3 + 3)
    row = main[(main.retriever == "bm25") & (main.task == "t1")].iloc[0]
    assert row["value"] == pytest.approx(100 * np.mean(base["t1"])) and row["n"] == 20
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["category"] == "held_in"
    assert main[(main.retriever == "bm25") & (main.task == "t3")]["category"].item() == "held_out"
    mean_all = main[(main.retriever == "bm25") & (main.task == "mean_all")].iloc[0]
    expect = 100 * np.mean([np.mean(base[t]) for t in ("t1", "t2", "t3")])
    assert mean_all["value"] == pytest.approx(expect) and mean_all["n"] == 50

    delta = df[df["metric"] == "delta_vs_bm25"]
    assert set(delta["retriever"]) == {"same", "oracle"}
    same = delta[delta.retriever == "same"]
    assert (same[["value", "ci_low", "ci_high"]].to_numpy() == 0).all()
    orc = delta[(delta.retriever == "oracle") & (delta.task == "t1")].iloc[0]
    assert orc["value"] == pytest.approx(100 * (1 - np.mean(base["t1"])))
    assert 0 < orc["ci_low"] <= orc["value"] <= orc["ci_high"]

    md = open(out["md"]).read()
    for s in ("Main results", "Difference vs bm25", "demo", "Agreement", "0.42", "llm_eval"):
        assert s in md
    assert open(out["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    tt = pd.read_csv(tmp_path / "timings.csv").set_index("rule")
    assert tt.loc["llm_eval", "jobs"] == 2 and tt.loc["llm_eval", "total_s"] == 40.0
    assert tt.loc["llm_eval", "max_rss_mb"] == 200.0 and tt.loc["prepare", "jobs"] == 1


def test_parse_timings_empty():
    assert list(parse_timings([]).columns)[0] == "rule"


def test_examples_html(tmp_path, tiny_data):
    _, pred = _run(tmp_path, "bm25", "task_filter", {"t1": [1.0, 0.0], "t2": [0.0]})
    prompts = pd.DataFrame(
        {
            "query_id": ["t1_0", "t1_1", "t2_0"],
            "task_name": ["t1", "t1", "t2"],
            "prompt": ["p"] * 3,
            "demo_ids": [["cls_sent_0", "cls_sent_1"], [], ["mc_pick_0"]],
            "demo_scores": [[1.5, 2.5], [], [float("nan")]],
        }
    )
    ppath = str(tmp_path / "prompts.parquet")
    prompts.to_parquet(ppath, index=False)
    out = str(tmp_path / "ex.html")
    examples_html(pred, ppath, tiny_data["passages"], out, n_per_task=1, title="bm25")
    text = open(out).read()
    assert "<h3>t1</h3>" in text and "<h3>t2</h3>" in text and "(2.500)" in text
    assert "query 0 &lt;b&gt;" in text and "query 1" not in text
