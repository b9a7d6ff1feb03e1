"""Publish an experiment's outcome as a committed, self-describing folder (``docs/results/``).

``publish`` takes the run folders of one config's seed replicates (``scripts/seed_replicates.sh``
makes them; one folder is one seed) and writes into ``out_dir``:

- ``summary.csv``: the summary table (``llmr.reporting.report.SUMMARY_COLUMNS``) of the seed-averaged
  predictions (each test query's score averaged over seeds; paired CIs vs the baseline),
- ``seeds.csv``: each seed's means and paired deltas, for the spread over seeds,
- ``demonstrations.csv``: per retriever, the fraction of demonstrations from the query's task
  and with the query's gold label (averaged over seeds),
- ``agreement.csv``: each seed's agreement of the reward model / retriever with the LLM,
- ``timings.csv``: wall time and peak memory per rule and seed (Snakemake benchmarks),
- ``delta_vs_<baseline>.png`` and ``training_curves.png`` (first seed),
- ``provenance.json``: the command, git revision, config, seeds, date and machine,
- ``runs/seed<i>/``: each seed's evaluations (metrics and the per-query scores), a run folder
  that the commands read like the original, so later seeds can be combined with these,
- ``summary.md``: everything above as markdown, rendered by ``render`` from those files only.

``render(out_dir)`` is a pure function of the committed files, so a test can check that the
committed ``summary.md`` still matches the committed CSVs.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from llmr.core.io import atomic_path, read_json, read_parquet, write_json, write_parquet, write_text
from llmr.reporting.report import (
    _load_runs,
    _plot,
    demo_shares,
    markdown_table,
    parse_timings,
    summary_markdown,
    task_layout,
)
from llmr.reporting.seeds import combine_seeds, eval_runs, seeds_markdown

log = logging.getLogger(__name__)

FILES = (
    "summary.csv",
    "seeds.csv",
    "demonstrations.csv",
    "agreement.csv",
    "timings.csv",
    "provenance.json",
)


def _git_revision(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "status",
                "--porcelain",
                "--",
                "llmr",
                "rules",
                "workflow_scripts",
                "Snakefile",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def publish(
    run_dirs: Sequence[str],
    out_dir: str,
    command: str,
    config: str | None = None,
    baseline: str = "bm25",
    n_boot: int = 1000,
    repo: str = ".",
) -> str:
    """Write the results folder (module docstring) from seed-replicate run folders; returns
    the rendered summary.md text."""
    if not run_dirs:
        raise ValueError("no run folders given")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = str(Path(run_dirs[0]) / "results/data/tasks.parquet")
    combine_seeds(run_dirs, tasks, str(out / "seeds"), baseline, n_boot)
    for name in ("seeds.csv", "summary_seed_mean.csv"):
        target = out / ("summary.csv" if name == "summary_seed_mean.csv" else name)
        shutil.move(out / "seeds" / name, target)
    shutil.rmtree(out / "seeds")

    longs, agreements, timings = [], [], []
    for i, d in enumerate(run_dirs):
        _, long = _load_runs(*eval_runs(d))
        longs.append(long)
        ag = Path(d) / "results/eval/agreement.csv"
        if ag.exists():
            agreements.append(pd.read_csv(ag).assign(seed=i))
        tt = parse_timings(sorted(str(p) for p in Path(d).glob("benchmarks/**/*.tsv")))
        timings.append(tt.assign(seed=i))
    shares = demo_shares(pd.concat(longs, ignore_index=True))
    _csv(shares, out / "demonstrations.csv")
    _csv(
        pd.concat(agreements, ignore_index=True) if agreements else pd.DataFrame(),
        out / "agreement.csv",
    )
    _csv(pd.concat(timings, ignore_index=True), out / "timings.csv")

    for i, d in enumerate(run_dirs):
        keep_evaluations(d, out / "runs" / f"seed{i}")

    summary = pd.read_csv(out / "summary.csv")
    _plot(summary, task_layout(summary)[0], baseline, str(out / f"delta_vs_{baseline}.png"))
    curves = Path(run_dirs[0]) / "results/eval/training_curves.png"
    if curves.exists():
        shutil.copyfile(curves, out / "training_curves.png")
    else:  # not a previous publication's curves
        (out / "training_curves.png").unlink(missing_ok=True)
    write_json(
        {
            "command": command,
            "git_revision": _git_revision(Path(repo)),
            "config": Path(config).read_text() if config else None,
            "seeds": len(run_dirs),
            "run_dirs": [str(d) for d in run_dirs],
            "baseline": baseline,
            "n_boot": n_boot,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip()
            + f", {_cpu_count()} cores",
        },
        str(out / "provenance.json"),
    )
    text = render(str(out))
    write_text(text, out / "summary.md")
    log.info("published %d seed replicates into %s", len(run_dirs), out)
    return text


# the per-query columns the paired comparisons read (llmr.reporting.report._load_runs)
KEPT_PREDICTION_COLUMNS = (
    "query_id",
    "task_name",
    "score",
    "prediction",
    "demo_label_match",
    "demo_task_match",
)


def keep_evaluations(run_dir: str, dst: Path, retrievers: Sequence[str] | None = None) -> None:
    """Copy a run folder's evaluations into ``dst`` as a run folder of their own:
    ``results/data/tasks.parquet`` and, per retriever and variant, ``metrics.json`` and the
    predictions' ``KEPT_PREDICTION_COLUMNS``. ``llmr seeds``, ``llmr results`` and
    ``llmr compare`` read it like the run it came from, so seeds run later (elsewhere) can
    be combined with the published ones. ``retrievers``: only these (default: all)."""
    if dst.exists():
        shutil.rmtree(dst)
    (dst / "results/data").mkdir(parents=True)
    shutil.copyfile(
        Path(run_dir) / "results/data/tasks.parquet", dst / "results/data/tasks.parquet"
    )
    for m in eval_runs(run_dir)[0]:
        rel = Path(m).parent.relative_to(run_dir)
        if retrievers is not None and rel.parent.name not in retrievers:
            continue
        (dst / rel).mkdir(parents=True)
        shutil.copyfile(m, dst / rel / "metrics.json")
        pred = read_parquet(str(Path(m).with_name("predictions.parquet")))
        cols = [c for c in KEPT_PREDICTION_COLUMNS if c in pred]
        write_parquet(pred[cols], dst / rel / "predictions.parquet")


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def render(out_dir: str) -> str:
    """summary.md of a results folder, from its CSV and JSON files only."""
    out = Path(out_dir)
    prov = read_json(str(out / "provenance.json"))
    baseline, n_boot = prov["baseline"], prov["n_boot"]
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    seeds = pd.read_csv(out / "seeds.csv", keep_default_na=False, na_values=[""])
    shares = pd.read_csv(out / "demonstrations.csv")
    agreement = _read_optional(out / "agreement.csv")
    timings = _read_optional(out / "timings.csv")
    means = summary[(summary["task"] == "mean_all") & (summary["metric"] == "mean")]
    n_queries = int(means["n"].max()) if len(means) else 0
    head = [
        "# Results",
        "",
        f"Reproduce with: `{prov['command']}`  ",
        f"Code: `{prov['git_revision']}`; {prov['seeds']} training "
        f"seed{'' if prov['seeds'] == 1 else 's'}; "
        f"{n_queries} test queries per retriever; {prov['date']}; {prov['machine']}.",
        "",
    ]
    body = summary_markdown(
        summary, baseline, n_boot, shares, None, None, title="Seed-averaged evaluation"
    )
    parts = [
        "\n".join(head),
        body.replace("# Seed-averaged", "## Seed-averaged", 1),
        seeds_markdown(seeds, summary, baseline, prov["seeds"]).replace("# ", "## ", 1),
    ]
    if agreement is not None:
        keep = agreement[agreement.get("task", pd.Series("all", index=agreement.index)) == "all"]
        parts.append(
            "## Agreement with the LLM on held-back training queries (task: all)\n\n"
            + markdown_table(keep.round(3))
            + "\n"
        )
    if timings is not None:
        parts.append(
            "## Wall time and peak memory per rule\n\n" + markdown_table(timings.round(1)) + "\n"
        )
    return "\n".join(parts)


def _read_optional(path: Path) -> pd.DataFrame | None:
    if not path.exists() or path.stat().st_size <= 1:
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


def results_command(
    *,
    run_dirs: list[str],
    out: str,
    command: str,
    config: str | None,
    baseline: str,
    n_boot: int,
    render_only: bool,
) -> int:
    """``llmr results``: publish seed-replicate run folders, or (``render_only``) re-render
    ``out``'s summary.md from its files."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if render_only:
        write_text(render(out), Path(out) / "summary.md")
    else:
        publish(
            run_dirs,
            out,
            command,
            config,
            baseline,
            n_boot,
            repo=str(Path(__file__).resolve().parents[2]),
        )
    print((Path(out) / "summary.md").read_text())
    return 0
