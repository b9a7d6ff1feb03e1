"""Seed replicates: combine the evaluations of runs that differ only in ``training_seed``.

A claim that one retriever beats another must hold across training seeds. Each replicate is
a complete run folder (``results/eval/<retriever>/<variant>/{metrics.json,predictions.parquet}``)
of the same config with another ``training_seed``. ``combine_seeds`` writes

- ``seeds.csv``: per (retriever, variant) and seed, the held-in / held-out / all means and
  the paired delta vs the baseline with its 95% CI (one row per seed), and
- ``summary_seed_mean.csv``: the summary table (``llmr.reporting.report.SUMMARY_COLUMNS``) of the
  seed-averaged predictions: each test query's score averaged over seeds, so the paired
  CI vs the baseline accounts for the test sample with the seed noise averaged out,
- ``seeds.md``: both as tables, with the spread (min / max over seeds) of each mean.

A retriever evaluated in only some of the folders (e.g. a baseline not rerun for every seed)
is averaged over those, and the tables give its number of seeds; a folder that evaluated a
retriever on only part of the test queries is an error.

Retrievers without training (BM25, random, ...) give the same predictions in every seed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from llmr.core.io import atomic_path, read_parquet, write_text
from llmr.reporting.report import MEAN_ROWS, _load_runs, markdown_table, mean_cells, summary_table

log = logging.getLogger(__name__)


def eval_runs(run_dir: str) -> tuple[list[str], list[str]]:
    """(metrics.json, predictions.parquet) paths of every evaluation in a run folder."""
    metrics = sorted(str(p) for p in Path(run_dir).glob("results/eval/*/*/metrics.json"))
    preds = [m.replace("metrics.json", "predictions.parquet") for m in metrics]
    missing = [p for p in preds if not Path(p).exists()]
    if not metrics or missing:
        raise ValueError(f"{run_dir}: no complete evaluation (missing {missing[:3]})")
    return metrics, preds


def combine_seeds(
    run_dirs: Sequence[str],
    tasks: str,
    out_dir: str,
    baseline: str = "bm25",
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Combine seed replicates (see module docstring); returns the per-seed table."""
    if len(run_dirs) < 1:
        raise ValueError("no run folders given")
    tdf = read_parquet(tasks)
    per_seed, longs, runs0 = [], [], None
    for i, d in enumerate(run_dirs):
        runs, long = _load_runs(*eval_runs(d))
        runs0 = runs0 or runs
        table = summary_table(runs, long, tdf, baseline, n_boot, seed)
        means = table[table["task"].str.startswith("mean_")].assign(seed=i, run_dir=d)
        per_seed.append(means)
        longs.append(long.assign(seed=i))
    seeds = pd.concat(per_seed, ignore_index=True)
    long = pd.concat(longs, ignore_index=True)
    keys = ["retriever", "variant", "task", "query_id"]
    counts = long.groupby(keys)["seed"].nunique()
    n_seeds = long.groupby(["retriever", "variant"])["seed"].nunique()
    expected = n_seeds.reindex(counts.index.droplevel(["task", "query_id"])).to_numpy()
    incomplete = counts[counts.to_numpy() != expected]
    if len(incomplete):
        raise ValueError(
            f"{len(incomplete)} predictions missing in some seed, e.g. {incomplete.index[0]}"
        )
    for (r, v), n in n_seeds.items():
        if n < len(run_dirs):
            log.warning(
                "%s/%s: evaluated in %d of %d seeds; averaged over those", r, v, n, len(run_dirs)
            )
    avg = long.groupby(keys, sort=False, as_index=False)[
        ["score", "demo_label_match", "demo_task_match"]
    ].mean()
    averaged = summary_table(runs0 or [], avg, tdf, baseline, n_boot, seed)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "seeds.csv") as tmp:
        seeds.to_csv(tmp, index=False)
    with atomic_path(out / "summary_seed_mean.csv") as tmp:
        averaged.to_csv(tmp, index=False)
    write_text(seeds_markdown(seeds, averaged, baseline, len(run_dirs)), out / "seeds.md")
    log.info("combined %d seed replicates into %s", len(run_dirs), out)
    return seeds


def _cell(v: float, lo: float, hi: float, signed: bool) -> str:
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def seeds_markdown(seeds: pd.DataFrame, averaged: pd.DataFrame, baseline: str, n: int) -> str:
    """Markdown: seed-averaged means and deltas (paired CI), and each seed's delta."""
    delta = f"delta_vs_{baseline}"
    lines = [
        f"# {n} training seed{'' if n == 1 else 's'}",
        "",
        "Seed-averaged predictions (each query's score averaged over seeds); "
        f"values in percent, paired 95% bootstrap CI vs {baseline}.",
        "",
    ]
    rows = []
    for (r, v), g in averaged.groupby(["retriever", "variant"], sort=False):
        mine = seeds[
            (seeds["retriever"] == r) & (seeds["variant"] == v) & (seeds["metric"] == "mean")
        ]

        def with_spread(name: str, value: float, mine: pd.DataFrame = mine) -> str:
            spread = mine[mine["task"] == name]["value"]
            return f"{value:.1f} (seeds {spread.min():.1f}–{spread.max():.1f})"

        n_seeds = int(mine[mine["task"].isin(MEAN_ROWS)].groupby("task").size().max())
        rows.append(
            {"retriever": r, "variant": v, "seeds": n_seeds, **mean_cells(g, baseline, with_spread)}
        )
    lines += [markdown_table(pd.DataFrame(rows)), "", f"## Each seed: Δ held-in vs {baseline}", ""]
    d = seeds[(seeds["task"] == "mean_held_in") & (seeds["metric"] == delta)]
    if len(d):
        d = d.assign(
            cell=[
                _cell(a, b, c, True)
                for a, b, c in zip(d["value"], d["ci_low"], d["ci_high"], strict=True)
            ]
        )
        wide = d.pivot_table(
            index=["retriever", "variant"],
            columns="seed",
            values="cell",
            aggfunc="first",
            sort=False,
        ).reset_index()
        wide = wide.fillna("–")  # a retriever not evaluated in that seed
        wide.columns = [c if isinstance(c, str) else f"seed {c}" for c in wide.columns]
        excl = (
            d.groupby(["retriever", "variant"], sort=False)["ci_low"]
            .apply(lambda s: "yes" if bool(np.all(s > 0)) else "no")
            .reset_index(drop=True)
        )
        wide["CI > 0 in every seed"] = excl.to_numpy()
        lines.append(markdown_table(wide))
    return "\n".join(lines) + "\n"


def seeds_command(
    *,
    run_dirs: list[str],
    out: str,
    tasks: str | None,
    baseline: str,
    n_boot: int,
) -> int:
    """``llmr seeds``: combine seed-replicate run folders; print seeds.md."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    tasks = tasks or str(Path(run_dirs[0]) / "results/data/tasks.parquet")
    combine_seeds(run_dirs, tasks, out, baseline, n_boot)
    print((Path(out) / "seeds.md").read_text())
    return 0
