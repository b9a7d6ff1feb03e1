"""Summaries of evaluation runs: bootstrap CIs, deltas vs a baseline, plot, timings, examples.

``summarize`` reads the metrics JSON and predictions table of each (retriever, variant)
evaluation (``llmr.evaluation.evaluate``) and writes summary.csv, summary.md and a PNG plot. CIs are
95% percentile bootstraps over test examples; deltas vs the baseline are paired by
query_id and resampled within each task. Values are percentages.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from llmr.core.io import atomic_path, read_json, read_parquet, read_table, write_text

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "retriever",
    "variant",
    "task",
    "category",
    "metric",
    "value",
    "n",
    "ci_low",
    "ci_high",
)
MEAN_ROWS = ("mean_held_in", "mean_held_out", "mean_all")
FAMILY_PREFIX = "family:"  # rows of family_means (a task name has no ':')
TIMING_COLUMNS = ("rule", "jobs", "total_s", "mean_s", "max_s", "max_rss_mb", "cpu_time_s")


def bootstrap_mean_ci(
    groups: Sequence[np.ndarray], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Mean over groups of each group's mean, with a percentile bootstrap CI.

    Each group (e.g. one task's per-example scores) is resampled independently. Returns
    (point, low, high); NaNs when there is no non-empty group.
    """
    groups = [np.asarray(g, dtype=np.float64) for g in groups if len(g)]
    if not groups:
        return math.nan, math.nan, math.nan
    point = float(np.mean([g.mean() for g in groups]))
    rng = np.random.default_rng(seed)
    boots = np.zeros(n_boot)
    for g in groups:
        for start in range(0, n_boot, 256):  # chunks bound the (n_boot, n) index memory
            m = min(256, n_boot - start)
            boots[start : start + m] += g[rng.integers(0, len(g), size=(m, len(g)))].mean(1)
    boots /= len(groups)
    low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return point, float(low), float(high)


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df:
        return pd.Series(np.nan, index=df.index)
    return pd.to_numeric(df[col], errors="coerce")


def _load_runs(
    metrics: Sequence[str], predictions: Sequence[str]
) -> tuple[list[dict], pd.DataFrame]:
    """(metrics JSONs, long frame of per-example scores with retriever/variant/task)."""
    if len(metrics) != len(predictions):
        raise ValueError(f"{len(metrics)} metrics files but {len(predictions)} predictions files")
    runs, frames = [], []
    for m_path, p_path in zip(metrics, predictions, strict=True):
        m = read_json(m_path)
        key = (m.get("retriever", ""), m.get("variant", ""))
        if any((r["retriever"], r["variant"]) == key for r in runs):
            raise ValueError(f"{m_path}: duplicate run {key}")
        runs.append(m)
        p = read_parquet(p_path)
        if len(p):
            frames.append(
                pd.DataFrame(
                    {
                        "retriever": key[0],
                        "variant": key[1],
                        "task": p["task_name"].astype(str),
                        "query_id": p["query_id"].astype(str),
                        "score": p["score"].astype(float),
                        "demo_label_match": _num(p, "demo_label_match"),
                        "demo_task_match": _num(p, "demo_task_match"),
                    }
                )
            )
    cols = ["retriever", "variant", "task", "query_id", "score"]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    return runs, long


def _baseline_variant(variant: str, base_variants: set[str]) -> str | None:
    if variant in base_variants:
        return variant
    if "task_filter" in base_variants:
        return "task_filter"
    return next(iter(sorted(base_variants)), None)


def summary_table(
    runs: list[dict],
    long: pd.DataFrame,
    tasks: pd.DataFrame,
    baseline: str = "bm25",
    n_boot: int = 1000,
    seed: int = 0,
    extra_means: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Rows of summary.csv (``SUMMARY_COLUMNS``): per task, means, and deltas vs baseline.
    ``extra_means``: row name -> tasks, more macro means (category ``group``) after the
    ``mean_*`` rows, e.g. ``family_means``."""
    category = {
        t: "held_out" if h else "held_in"
        for t, h in zip(tasks["task_name"], tasks["held_out"], strict=True)
    }
    means = {m: [t for t in category if m == "mean_all" or category[t] == m[5:]] for m in MEAN_ROWS}
    means |= {name: list(ts) for name, ts in (extra_means or {}).items()}
    task_order = list(tasks["task_name"])
    scores = {
        key: {t: g.set_index("query_id")["score"] for t, g in grp.groupby("task")}
        for key, grp in long.groupby(["retriever", "variant"])
    }
    rows = []

    def add_means(r: str, v: str, metric: str, per_task: dict[str, np.ndarray]) -> None:
        for mean_name, members in means.items():
            cat = mean_name.removeprefix("mean_") if mean_name in MEAN_ROWS else "group"
            groups = [per_task[t] for t in members if len(per_task.get(t, ()))]
            point, low, high = bootstrap_mean_ci(groups, n_boot, seed)
            rows.append(
                (
                    r,
                    v,
                    mean_name,
                    cat,
                    metric,
                    100 * point,
                    sum(map(len, groups)),
                    100 * low,
                    100 * high,
                )
            )

    for run in runs:
        r, v = run.get("retriever", ""), run.get("variant", "")
        own = scores.get((r, v), {})
        per_task = {}
        for t in task_order:
            arr = own[t].to_numpy() if t in own else np.zeros(0)
            per_task[t] = arr
            point, low, high = bootstrap_mean_ci([arr], n_boot, seed)
            metric = (run.get("tasks", {}).get(t) or {}).get("metric", "")
            rows.append(
                (r, v, t, category[t], metric, 100 * point, len(arr), 100 * low, 100 * high)
            )
        add_means(r, v, "mean", per_task)

    base_variants = {run.get("variant", "") for run in runs if run.get("retriever") == baseline}
    delta_name = f"delta_vs_{baseline}"
    for run in runs:
        r, v = run.get("retriever", ""), run.get("variant", "")
        bv = _baseline_variant(v, base_variants)
        if r == baseline or bv is None:
            continue
        own, base = scores.get((r, v), {}), scores.get((baseline, bv), {})
        per_task = {}
        for t in task_order:
            if t in own and t in base:
                joined = pd.concat([own[t], base[t]], axis=1, join="inner").to_numpy()
                diff = joined[:, 0] - joined[:, 1]
            else:
                diff = np.zeros(0)
            per_task[t] = diff
            point, low, high = bootstrap_mean_ci([diff], n_boot, seed)
            rows.append(
                (r, v, t, category[t], delta_name, 100 * point, len(diff), 100 * low, 100 * high)
            )
        add_means(r, v, delta_name, per_task)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _fmt(x: float, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _fmt_ci(row: pd.Series) -> str:
    if math.isnan(row["value"]):
        return "–"
    return f"{row['value']:+.1f} [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"


def mean_cells(
    g: pd.DataFrame, baseline: str, mean_cell: Callable[[str, float], str] | None = None
) -> dict[str, str]:
    """Cells of one table row from one retriever's ``mean_*`` summary rows.

    ``g``: rows of ``SUMMARY_COLUMNS`` for one retriever and variant. Returns
    ``{held_in: mean, "Δ held_in": delta [CI], ...}`` for held_in, held_out and all, with "–"
    where a row is absent; ``mean_cell(mean_row_name, value)`` formats a mean (default 1 digit).
    """
    delta = f"delta_vs_{baseline}"
    row: dict[str, str] = {}
    for name in MEAN_ROWS:
        m = g[(g["task"] == name) & (g["metric"] == "mean")]
        d = g[(g["task"] == name) & (g["metric"] == delta)]
        cat = name.removeprefix("mean_")
        value = float(m["value"].iat[0]) if len(m) else math.nan
        row[cat] = "–" if not len(m) else mean_cell(name, value) if mean_cell else _fmt(value)
        row[f"Δ {cat}"] = _fmt_ci(d.iloc[0]) if len(d) else "–"
    return row


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``df`` (values as str)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_timings(paths: Sequence[str]) -> pd.DataFrame:
    """Per-rule timings (``TIMING_COLUMNS``) from Snakemake ``benchmark:`` TSV files.

    The rule is the first folder under ``benchmarks/`` (or the file stem when the file is
    directly in it). ``s`` is averaged over repeats within a file.
    """
    recs = []
    for p in paths:
        path = Path(p)
        parts = path.parts
        if "benchmarks" in parts and len(parts) - parts.index("benchmarks") > 2:
            rule = parts[parts.index("benchmarks") + 1]
        else:
            rule = path.name.split(".")[0]
        df = pd.read_csv(path, sep="\t")
        if "s" not in df:
            raise ValueError(f"{p}: not a Snakemake benchmark file (no 's' column)")
        num = df.apply(pd.to_numeric, errors="coerce")
        recs.append(
            {
                "rule": rule,
                "s": float(num["s"].mean()),
                "max_rss": float(num["max_rss"].max()) if "max_rss" in num else math.nan,
                "cpu_time": float(num["cpu_time"].mean()) if "cpu_time" in num else math.nan,
            }
        )
    if not recs:
        return pd.DataFrame(columns=list(TIMING_COLUMNS))
    df = pd.DataFrame(recs)
    out = df.groupby("rule").agg(
        jobs=("s", "size"),
        total_s=("s", "sum"),
        mean_s=("s", "mean"),
        max_s=("s", "max"),
        max_rss_mb=("max_rss", "max"),
        cpu_time_s=("cpu_time", "sum"),
    )
    out = out.reset_index().sort_values("total_s", ascending=False, kind="stable")
    return out[list(TIMING_COLUMNS)].reset_index(drop=True)


def _plot(summary: pd.DataFrame, task_order: list[str], baseline: str, out_plot: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    delta = summary[summary["metric"] == f"delta_vs_{baseline}"]
    cols = [t for t in [*task_order, *MEAN_ROWS] if t in set(delta["task"])]
    systems = list(dict.fromkeys(zip(delta["retriever"], delta["variant"], strict=True)))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(cols) + 2), 4))
    width = 0.8 / max(1, len(systems))
    x = np.arange(len(cols))
    for i, (r, v) in enumerate(systems):
        sub = delta[(delta["retriever"] == r) & (delta["variant"] == v)].set_index("task")
        sub = sub.reindex(cols)
        val = sub["value"].to_numpy(dtype=float)
        err = np.vstack([val - sub["ci_low"].to_numpy(float), sub["ci_high"].to_numpy(float) - val])
        label = f"{r} ({v})" if v else r
        ax.bar(
            x + (i - (len(systems) - 1) / 2) * width, val, width, yerr=err, capsize=2, label=label
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, cols, rotation=45, ha="right")
    ax.set_ylabel(f"difference vs {baseline} (points)")
    ax.set_title(f"Per-task difference vs {baseline} (95% paired bootstrap CI)")
    if systems:
        ax.legend(fontsize="small")
    else:
        ax.text(
            0.5, 0.5, f"no runs to compare with {baseline}", ha="center", transform=ax.transAxes
        )
    fig.tight_layout()
    with atomic_path(out_plot) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _main_table(summary: pd.DataFrame, task_order: list[str], baseline: str) -> pd.DataFrame:
    main = summary[~summary["metric"].str.startswith("delta_vs_")]
    delta = summary[(summary["metric"] == f"delta_vs_{baseline}") & (summary["task"] == "mean_all")]
    out = []
    for (r, v), grp in main.groupby(["retriever", "variant"], sort=False):
        vals = grp.set_index("task")["value"]
        row = {"retriever": r, "variant": v}
        row.update({t: _fmt(vals.get(t, math.nan)) for t in [*task_order, *MEAN_ROWS]})
        d = delta[(delta["retriever"] == r) & (delta["variant"] == v)]
        row[f"Δ mean_all vs {baseline} [95% CI]"] = _fmt_ci(d.iloc[0]) if len(d) else "–"
        out.append(row)
    return pd.DataFrame(out)


def task_layout(summary: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(task order, held-out tasks) as recorded in a summary table's per-task rows."""
    per_task = summary[~summary["task"].isin(MEAN_ROWS)]
    order = [str(t) for t in dict.fromkeys(per_task["task"])]
    held_out = [
        str(t) for t in dict.fromkeys(per_task.loc[per_task["category"] == "held_out", "task"])
    ]
    return order, held_out


def demo_shares(long: pd.DataFrame) -> pd.DataFrame:
    """Per (retriever, variant): mean fraction of demonstrations from the query's task
    (``demo_task_match``) and carrying its gold label (``demo_label_match``)."""
    cols = ["retriever", "variant", "demo_task_match", "demo_label_match"]
    if not len(long):
        return pd.DataFrame(columns=cols)
    return long.groupby(["retriever", "variant"], sort=False)[cols[2:]].mean().reset_index()


def summary_markdown(
    summary: pd.DataFrame,
    baseline: str = "bm25",
    n_boot: int = 1000,
    shares: pd.DataFrame | None = None,
    agreement: pd.DataFrame | None = None,
    timings: pd.DataFrame | None = None,
    title: str = "Evaluation summary",
) -> str:
    """The markdown report of a summary table (``SUMMARY_COLUMNS``) and optional tables.

    Depends only on its arguments, so a committed summary.csv (plus the shares, agreement
    and timings CSVs) renders the same markdown again.
    """
    task_order, held_out = task_layout(summary)
    md = [
        f"# {title}",
        "",
        "Values in percent; 95% percentile bootstrap CIs over test examples "
        f"({n_boot} resamples). Held-out tasks: {', '.join(held_out) or 'none'}.",
        "",
        "## Main results",
        "",
        markdown_table(_main_table(summary, task_order, baseline)) if len(summary) else "(none)",
        "",
        f"## Difference vs {baseline} (paired by query, 95% CI)",
        "",
    ]
    delta = summary[summary["metric"] == f"delta_vs_{baseline}"]
    if len(delta):
        wide = delta.assign(cell=[_fmt_ci(r) for _, r in delta.iterrows()]).pivot_table(
            index=["retriever", "variant"],
            columns="task",
            values="cell",
            aggfunc="first",
            sort=False,
        )
        wide = wide[[c for c in [*task_order, *MEAN_ROWS] if c in wide.columns]].reset_index()
        md.append(markdown_table(wide))
    else:
        md.append(f"(no baseline run named {baseline!r})")
    if shares is not None and len(shares):
        share = shares.copy()
        for col in ("demo_task_match", "demo_label_match"):
            share[col] = [_fmt(100 * x) for x in share[col]]
        md += [
            "",
            "## Demonstrations sharing the query's task / label",
            "",
            "Percent of demonstrations from the query's task, and (classification tasks) "
            "whose label equals the query's gold label.",
            "",
            markdown_table(share),
        ]
    if agreement is not None:
        md += ["", "## Agreement", "", markdown_table(agreement.round(3))]
    if timings is not None:
        md += ["", "## Timings per rule", "", markdown_table(timings.round(1))]
    return "\n".join(md) + "\n"


def summarize(
    metrics: Sequence[str],
    predictions: Sequence[str],
    tasks: str,
    out_csv: str,
    out_md: str,
    out_plot: str,
    baseline: str = "bm25",
    agreement: str | None = None,
    timings: Sequence[str] = (),
    out_timings: str | None = None,
    *,
    n_boot: int,
    seed: int,
) -> None:
    """Write summary.csv (``SUMMARY_COLUMNS``), summary.md and the delta plot (PNG).

    ``metrics[i]`` and ``predictions[i]`` are one evaluation run. ``agreement`` is an
    optional table (CSV / Parquet) shown as-is; ``timings`` are Snakemake benchmark TSVs,
    summarised per rule into ``out_timings`` (CSV) and a section of the markdown.
    ``n_boot`` and ``seed`` have no defaults: the config's ``eval`` section.
    """
    runs, long = _load_runs(metrics, predictions)
    tdf = read_parquet(tasks)
    task_order = [str(t) for t in tdf["task_name"]]
    summary = summary_table(runs, long, tdf, baseline, n_boot, seed)
    with atomic_path(out_csv) as tmp:
        summary.to_csv(tmp, index=False)

    shares = demo_shares(long)
    tt = parse_timings(timings)
    if out_timings:
        with atomic_path(out_timings) as tmp:
            tt.to_csv(tmp, index=False)
    ag = None
    if agreement:
        ag = read_table(agreement) if not agreement.endswith(".csv") else pd.read_csv(agreement)
    md = summary_markdown(summary, baseline, n_boot, shares, ag, tt if timings else None)
    write_text(md, out_md)
    _plot(summary, task_order, baseline, out_plot)
    log.info("summary of %d runs: %d rows", len(runs), len(summary))


def examples_html(
    predictions: str,
    prompts: str,
    passages: str,
    out_html: str,
    n_per_task: int = 3,
    max_chars: int = 300,
    title: str = "",
) -> None:
    """An HTML snippet with ``n_per_task`` examples per task: query, demonstrations (with
    retriever scores where available, most relevant last), prediction and gold."""
    pred = read_parquet(predictions)
    pr = read_parquet(prompts).set_index("query_id")
    pool = read_table(passages)
    contents = dict(zip(pool["id"].astype(str), pool["contents"], strict=True))

    def short(text: str) -> str:
        text = str(text)
        return html.escape(text if len(text) <= max_chars else text[:max_chars] + " …")

    parts = [f"<h2>{html.escape(title)}</h2>"] if title else []
    for task, grp in pred.groupby("task_name", sort=False):
        parts.append(f"<h3>{html.escape(str(task))}</h3>")
        for row in grp.head(n_per_task).itertuples(index=False):
            demos = []
            if row.query_id in pr.index:
                p = pr.loc[row.query_id]
                scores = list(p.get("demo_scores", None) or [])
                for j, did in enumerate(p["demo_ids"]):
                    s = scores[j] if j < len(scores) else math.nan
                    score = "" if s is None or math.isnan(s) else f" <i>({s:.3f})</i>"
                    demos.append(
                        f"<li><code>{html.escape(str(did))}</code>{score}: "
                        f"<pre>{short(contents.get(str(did), '?'))}</pre></li>"
                    )
            ok = "✔" if float(row.score) >= 1.0 else ("✘" if float(row.score) == 0 else "")
            parts.append(
                "<div class='example'>"
                f"<p><b>query</b> <code>{html.escape(str(row.query_id))}</code>:</p>"
                f"<pre>{short(row.query)}</pre>"
                f"<p><b>demonstrations</b> ({len(demos)}, most relevant last):</p>"
                f"<ol>{''.join(demos)}</ol>"
                f"<p><b>prediction</b>: <code>{html.escape(str(row.prediction))}</code> {ok} "
                f"&nbsp; <b>gold</b>: <code>{html.escape(', '.join(map(str, row.gold)))}</code>"
                f" &nbsp; <b>score</b>: {float(row.score):.3f}</p></div>"
            )
    write_text("\n".join(parts) + "\n", out_html)


def training_curves(metrics: Sequence[str], out_plot: str, smooth: int = 5) -> None:
    """Plot the loss curves (``loss_curve`` [[step, loss], ...]) of training metrics JSONs.

    One line per model (reward models, retrievers), a running mean over ``smooth`` steps.
    """
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for path in metrics:
        curve = json.loads(Path(path).read_text()).get("loss_curve") or []
        if not curve:
            continue
        steps, losses = np.asarray(curve, dtype=float).T
        w = max(1, min(smooth, len(losses)))
        ax.plot(
            steps[w - 1 :],
            np.convolve(losses, np.ones(w) / w, mode="valid"),
            label=Path(path).name.removesuffix(".metrics.json"),
        )
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss (running mean of {smooth})")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out_plot) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def compare(
    evals: dict[str, str],
    tasks: str,
    baseline: str,
    n_boot: int = 1000,
    seed: int = 0,
    per_task: bool = False,
    families: bool = False,
) -> pd.DataFrame:
    """Paired deltas of named evaluations against the one named ``baseline``.

    ``evals``: name -> an evaluation folder (``results/eval/<retriever>/<variant>``, with
    metrics.json and predictions.parquet), possibly from different run folders (another
    seed, another setting), or several folders joined by commas (seed replicates: each
    query's score is averaged over them). Queries are paired by ``query_id`` within each
    task; returns the ``mean_*`` rows (``SUMMARY_COLUMNS``) of each name's mean and its
    delta vs the baseline, each task's rows too if ``per_task``, and with ``families`` the
    ``family_means`` rows (``family:<task type>``, held-in tasks).
    """
    if baseline not in evals:
        raise ValueError(f"baseline {baseline!r} is not one of {sorted(evals)}")
    runs, longs = [], []
    for name, spec in evals.items():
        folders = [f for f in spec.split(",") if f]
        loaded = [_load_runs([f"{f}/metrics.json"], [f"{f}/predictions.parquet"]) for f in folders]
        frames = [lg[["task", "query_id", "score"]] for _, lg in loaded]
        if any(
            len(f) != len(frames[0]) or set(f["query_id"]) != set(frames[0]["query_id"])
            for f in frames
        ):
            raise ValueError(f"{name}: the folders {folders} evaluated different queries")
        long = pd.concat(frames).groupby(["task", "query_id"], as_index=False)["score"].mean()
        runs.append({**loaded[0][0][0], "retriever": name, "variant": "compared"})
        longs.append(long.assign(retriever=name, variant="compared"))
    task_table = read_parquet(tasks)
    groups = family_means(task_table) if families else {}
    table = summary_table(
        runs, pd.concat(longs, ignore_index=True), task_table, baseline, n_boot, seed, groups
    )
    if not per_task:
        table = table[table["task"].isin([*MEAN_ROWS, *groups])]
    return table.reset_index(drop=True)


def family_means(tasks: pd.DataFrame) -> dict[str, list[str]]:
    """``family:<task type>`` -> the held-in tasks of that type (classification, multiple
    choice, generation), in the tasks table's order."""
    held_in = tasks[~tasks["held_out"].astype(bool)]
    return {
        f"{FAMILY_PREFIX}{t}": list(g["task_name"])
        for t, g in held_in.groupby("task_type", sort=False)
    }


def per_task_markdown(table: pd.DataFrame, baseline: str) -> str:
    """Markdown, one row per task (and ``family:`` row): each name's mean and its delta vs
    ``baseline`` [CI].

    ``table``: rows of ``SUMMARY_COLUMNS`` with per-task rows (``compare(per_task=True)``).
    """
    delta = f"delta_vs_{baseline}"
    tasks = table[~table["task"].isin(MEAN_ROWS)]
    rows = []
    for task, g in tasks.groupby("task", sort=False):
        row = {"task": task, "n": str(int(g["n"].iat[0]))}
        for name, own in g.groupby("retriever", sort=False):
            value = own[own["metric"] != delta]
            d = own[own["metric"] == delta]
            row[name] = _fmt(float(value["value"].iat[0])) if len(value) else "–"
            if name != baseline:
                row[f"Δ {name}"] = _fmt_ci(d.iloc[0]) if len(d) else "–"
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def compare_command(
    *,
    evals: list[tuple[str, str]],
    baseline: str,
    tasks: str,
    n_boot: int,
    csv: str | None,
    per_task: bool,
    families: bool,
) -> int:
    """``llmr compare NAME=FOLDER ... --baseline NAME --tasks tasks.parquet``: the markdown
    table of ``compare`` (and each task's, with ``per_task``); ``csv``: also its rows.

    ``evals``: (name, evaluation folders joined by ",") pairs."""
    table = compare(dict(evals), tasks, baseline, n_boot, per_task=per_task, families=families)
    if csv:
        with atomic_path(csv) as tmp:
            table.to_csv(tmp, index=False)
    rows = [
        {"name": name, **mean_cells(g, baseline)}
        for name, g in table.groupby("retriever", sort=False)
    ]
    print(markdown_table(pd.DataFrame(rows)))
    if per_task or families:
        print()
        print(per_task_markdown(table, baseline))
    return 0
