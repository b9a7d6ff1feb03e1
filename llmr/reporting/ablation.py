"""The reward-model ablation: LLM-R retrained under settings that test why its reward model
does or does not pay (``config/ablation/*.yaml``), each over training seeds, paired with
``llm_kd``, BM25 and the default LLM-R on the same test queries and the same seeds.

``scripts/ablation.sh`` runs the variants (``ABLATION_DIR/<variant>/seed<s>``, each a run
folder that started as a copy of the default run's ``SEEDS_DIR/seed<s>``). ``publish``
writes into ``out_dir``:

- ``ablation.csv``: per variant (``default`` = config.yaml's LLM-R), per seed set (all of
  the variant's seeds, seed-averaged per query, and each seed alone) and per task or
  ``mean_*`` row: the variant's mean and its paired delta [95% CI] vs each reference
  (``llm_kd``, ``bm25``, ``default``),
- ``ablation_training.csv``: per variant and seed, what the distillation saw and reached
  (queries kept by the filters, held-back accuracy, the teacher's max probability and
  entropy per group, the final KL and contrastive terms),
- ``ablation/<variant>/seed<s>/``: the variant's LLM-R evaluation (metrics and per-query
  scores), so the table can be recomputed from the committed files,
- ``ablation.md``: both tables as markdown, rendered by ``render`` from the CSV files only.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml

from llmr.core.io import atomic_path, read_json, write_text
from llmr.reporting.report import FAMILY_PREFIX, MEAN_ROWS, _fmt_ci, compare, markdown_table

log = logging.getLogger(__name__)

RETRIEVER = "llmr1"  # the evaluation name of LLM-R's round-1 retriever
VARIANT = "task_filter"  # the evaluation variant the ablation compares
REFERENCES = ("llm_kd", "bm25", "default")
# LLM-R's model metrics, by the name it has now and the one it had before the package move
MODEL_METRICS = ("results/models/llmr1.metrics.json", "results/models/retriever1.metrics.json")
ABLATION_COLUMNS = (
    "variant",
    "setting",
    "seeds",
    "task",
    "value",
    "vs",
    "delta",
    "ci_low",
    "ci_high",
    "n",
)
TRAINING_COLUMNS = (
    "variant",
    "seed",
    "n_queries",
    "heldback_acc1",
    "train_acc1",
    "teacher_max_prob",
    "teacher_entropy",
    "kl",
    "contrastive",
)


def setting(overlay: Path) -> str:
    """``section.key=value`` items of a config overlay, ``; ``-joined (``-`` for none)."""
    cfg = yaml.safe_load(overlay.read_text()) or {}
    items = [
        f"{section}.{k}={str(v).lower() if isinstance(v, bool) else v}"
        for section, keys in cfg.items()
        for k, v in (keys.items() if isinstance(keys, dict) else [("", keys)])
    ]
    return "; ".join(items) or "-"


def _seed_dirs(folder: Path) -> dict[int, Path]:
    return {
        int(p.name.removeprefix("seed")): p
        for p in folder.glob("seed*")
        if p.name.removeprefix("seed").isdigit()
        and (p / "results/eval" / RETRIEVER / VARIANT / "metrics.json").exists()
    }


def _same_eval(run: Path, default: Path | None) -> bool:
    """Whether a variant's LLM-R evaluation is still the default run's file (the copy that
    scripts/ablation.sh starts from, hard-linked: not rerun yet)."""
    rel = Path("results/eval") / RETRIEVER / VARIANT / "metrics.json"
    return default is not None and (default / rel).exists() and (run / rel).samefile(default / rel)


def _eval(run: Path, retriever: str) -> str:
    return str(run / "results/eval" / retriever / VARIANT)


def _compare_rows(
    variant: str, runs: dict[int, Path], seeds_runs: dict[int, Path], tasks: str, n_boot: int
) -> list[dict]:
    """Rows of ablation.csv for one variant over one set of seeds (``runs``: seed -> its
    run folder; the references are read from ``seeds_runs`` for the same seeds)."""
    seeds = sorted(runs)
    joined = {
        "variant": ",".join(_eval(runs[s], RETRIEVER) for s in seeds),
        "llm_kd": ",".join(_eval(seeds_runs[s], "llm_kd") for s in seeds),
        "bm25": _eval(seeds_runs[seeds[0]], "bm25"),
        "default": ",".join(_eval(seeds_runs[s], RETRIEVER) for s in seeds),
    }
    rows = []
    for ref in REFERENCES:
        if variant == "default" and ref == "default":
            continue
        evals = {"variant": joined["variant"], ref: joined[ref]}
        table = compare(evals, tasks, ref, n_boot, per_task=True, families=True)
        mine = table[table["retriever"] == "variant"]
        is_delta = mine["metric"] == f"delta_vs_{ref}"
        means, deltas = mine[~is_delta].set_index("task"), mine[is_delta].set_index("task")
        for task, d in deltas.iterrows():
            rows.append(
                {
                    "seeds": ",".join(map(str, seeds)),
                    "task": task,
                    "value": float(means.loc[task, "value"]),
                    "vs": ref,
                    "delta": float(d["value"]),
                    "ci_low": float(d["ci_low"]),
                    "ci_high": float(d["ci_high"]),
                    "n": int(d["n"]),
                }
            )
    return rows


def _training_row(variant: str, seed: int, run: Path) -> dict | None:
    """The LLM-R training diagnostics of one run; None for a default seed run that kept only
    its evaluations (a published seed folder); a variant run without them is an error."""
    path = next((run / p for p in MODEL_METRICS if (run / p).exists()), None)
    if path is None and variant == "default":
        log.warning("default seed %d: no LLM-R model metrics in %s; no training row", seed, run)
        return None
    if path is None:
        raise ValueError(f"{run}: no LLM-R model metrics ({' or '.join(MODEL_METRICS)})")
    m = read_json(str(path))
    diag = m.get("diagnostics", {})
    return {
        "variant": variant,
        "seed": seed,
        "n_queries": m.get("n_queries"),
        "heldback_acc1": m.get("heldback_acc1"),
        "train_acc1": m.get("train_acc1"),
        **{k: diag.get(k) for k in ("teacher_max_prob", "teacher_entropy", "kl", "contrastive")},
    }


def ablation_tables(
    ablation_dir: str,
    seeds_dir: str,
    variants_dir: str,
    variants: Sequence[str] | None = None,
    n_boot: int = 1000,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ablation.csv, ablation_training.csv) frames of the module docstring.

    ``variants`` default to every folder of ``ablation_dir``; each must have an overlay
    ``variants_dir/<variant>.yaml``. A seed counts once its LLM-R evaluation is its own
    (not the default run's hard-linked file that the variant folder starts from)."""
    seeds_runs = _seed_dirs(Path(seeds_dir))
    if not seeds_runs:
        raise ValueError(f"{seeds_dir}: no seed<N> run folder with an LLM-R evaluation")
    tasks = str(next(iter(seeds_runs.values())) / "results/data/tasks.parquet")
    names = list(variants or sorted(p.name for p in Path(ablation_dir).iterdir() if p.is_dir()))
    todo: list[tuple[str, str, dict[int, Path]]] = [("default", "config.yaml", seeds_runs)]
    for v in names:
        overlay = Path(variants_dir) / f"{v}.yaml"
        if not overlay.exists():
            raise ValueError(f"variant {v!r}: no overlay {overlay}")
        runs = {
            s: r
            for s, r in _seed_dirs(Path(ablation_dir) / v).items()
            if not _same_eval(r, seeds_runs.get(s))
        }
        missing = sorted(set(runs) - set(seeds_runs))
        if missing:
            raise ValueError(f"variant {v!r}: seeds {missing} have no default run to pair with")
        if runs:
            todo.append((v, setting(overlay), runs))
        else:
            log.warning("variant %s: no finished seed yet; left out", v)
    rows, training = [], []
    for name, cfg, runs in todo:
        sets = [runs] + ([{s: r} for s, r in sorted(runs.items())] if len(runs) > 1 else [])
        for subset in sets:
            for row in _compare_rows(name, subset, seeds_runs, tasks, n_boot):
                rows.append({"variant": name, "setting": cfg, **row})
        training += filter(None, (_training_row(name, s, r) for s, r in sorted(runs.items())))
    deltas = pd.DataFrame(rows, columns=list(ABLATION_COLUMNS))
    return deltas, pd.DataFrame(training, columns=list(TRAINING_COLUMNS))


def _cell(row: pd.Series | None) -> str:
    if row is None:
        return "–"
    return _fmt_ci(pd.Series({"value": row["delta"], **row[["ci_low", "ci_high"]]}))


def _by_variant(df: pd.DataFrame, full: pd.Series, rows: list[str], vs: str) -> pd.DataFrame:
    """One row per task (or family), one column per variant: its Δ vs ``vs`` [CI] over all
    of its seeds (``full``: variant -> seeds); the default has no Δ vs itself."""
    out = []
    for task in rows:
        row = {"task": task.removeprefix(FAMILY_PREFIX)}
        for variant, seeds in full.items():
            if vs == "default" and variant == "default":
                continue
            r = df[
                (df["variant"] == variant)
                & (df["seeds"] == seeds)
                & (df["task"] == task)
                & (df["vs"] == vs)
            ]
            row[variant] = _cell(r.iloc[0]) if len(r) else "–"
        out.append(row)
    return pd.DataFrame(out)


def render(out_dir: str) -> str:
    """ablation.md of a results folder, from ablation.csv and ablation_training.csv only."""
    out = Path(out_dir)
    df = pd.read_csv(out / "ablation.csv", dtype={"seeds": str})
    training = pd.read_csv(out / "ablation_training.csv")
    lines = [
        "# Reward-model ablation",
        "",
        "LLM-R retrained under each setting (overlay over config.yaml); values in percent; "
        "Δ = paired by test query, seeds averaged per query, 95% bootstrap CI. "
        "`default` is config.yaml's LLM-R.",
        "",
    ]
    full = df.groupby("variant", sort=False)["seeds"].agg(lambda s: max(s, key=len))
    lines += [
        "Reproduce (from the repository root, after the seed runs of results/README.md):",
        "",
        "```bash",
        *(
            f'SEEDS="{seeds.replace(",", " ")}" scripts/ablation.sh runs/default runs/ablation '
            f"{variant}"
            for variant, seeds in full.items()
            if variant != "default"
        ),
        "llmr ablation runs/ablation --seeds-dir runs/default --out docs/results",
        "```",
        "",
    ]
    head = []
    for variant, seeds in full.items():
        mine = df[(df["variant"] == variant) & (df["seeds"] == seeds)]

        def pick(task: str, vs: str, mine: pd.DataFrame = mine) -> pd.Series | None:
            r = mine[(mine["task"] == task) & (mine["vs"] == vs)]
            return r.iloc[0] if len(r) else None

        held_in = pick("mean_held_in", "llm_kd")
        each = df[
            (df["variant"] == variant)
            & (df["seeds"] != seeds)
            & (df["task"] == "mean_held_in")
            & (df["vs"] == "llm_kd")
        ]
        head.append(
            {
                "variant": variant,
                "setting": mine["setting"].iat[0],
                "seeds": seeds,
                "held-in": "–" if held_in is None else f"{held_in['value']:.1f}",
                "Δ held-in vs llm_kd": _cell(held_in),
                "each seed's Δ vs llm_kd": ", ".join(f"{d:+.1f}" for d in each["delta"]) or "–",
                "Δ held-in vs BM25": _cell(pick("mean_held_in", "bm25")),
                "Δ held-in vs default": _cell(pick("mean_held_in", "default")),
                "Δ all vs llm_kd": _cell(pick("mean_all", "llm_kd")),
            }
        )
    lines += [markdown_table(pd.DataFrame(head)), ""]
    names = list(dict.fromkeys(df["task"]))
    families = [t for t in names if t.startswith(FAMILY_PREFIX)]
    tasks = [t for t in names if t not in MEAN_ROWS and t not in families]
    for title, rows, vs in (
        ("Per task family (held-in tasks): Δ vs llm_kd", families, "llm_kd"),
        ("Per task family (held-in tasks): Δ vs the default LLM-R", families, "default"),
        ("Per task: Δ vs llm_kd", tasks, "llm_kd"),
    ):
        if rows:
            lines += [f"## {title} (all of each variant's seeds)", ""]
            lines += [markdown_table(_by_variant(df, full, rows, vs)), ""]
    lines += ["## Training: what each LLM-R distillation saw (mean over seeds)", ""]
    mean = training.groupby("variant", sort=False).mean(numeric_only=True).reset_index()
    mean = mean.drop(columns="seed").assign(
        seeds=training.groupby("variant", sort=False).size().to_numpy()
    )
    for c in TRAINING_COLUMNS[2:]:
        digits = 0 if c == "n_queries" else 3
        mean[c] = [("–" if math.isnan(x) else f"{x:.{digits}f}") for x in mean[c]]
    lines.append(markdown_table(mean[["variant", "seeds", *TRAINING_COLUMNS[2:]]]))
    return "\n".join(lines) + "\n"


def publish(
    ablation_dir: str,
    seeds_dir: str,
    out_dir: str,
    variants_dir: str,
    variants: Sequence[str] | None = None,
    n_boot: int = 1000,
) -> str:
    """Write ablation.csv, ablation_training.csv, ablation/ and ablation.md (module
    docstring) into ``out_dir``; returns the rendered markdown."""
    from llmr.reporting.results import keep_evaluations

    deltas, training = ablation_tables(ablation_dir, seeds_dir, variants_dir, variants, n_boot)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in (("ablation.csv", deltas), ("ablation_training.csv", training)):
        with atomic_path(out / name) as tmp:
            df.to_csv(tmp, index=False)
    for v in dict.fromkeys(deltas["variant"]):
        if v == "default":
            continue
        for s, run in sorted(_seed_dirs(Path(ablation_dir) / v).items()):
            keep_evaluations(str(run), out / "ablation" / v / f"seed{s}", retrievers=[RETRIEVER])
    text = render(str(out))
    write_text(text, out / "ablation.md")
    return text


def ablation_command(
    *,
    ablation_dir: str,
    seeds_dir: str,
    out: str,
    variants_dir: str,
    variants: list[str] | None,
    n_boot: int,
) -> int:
    """``llmr ablation ABLATION_DIR --seeds-dir SEEDS_DIR --out docs/results``: ``publish``
    and print ablation.md; exit status 2 (one line on stderr) when the runs do not fit."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        text = publish(ablation_dir, seeds_dir, out, variants_dir, variants, n_boot)
    except ValueError as e:
        print(f"llmr ablation: error: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0
