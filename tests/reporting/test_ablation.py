"""The reward-model ablation's tables (llmr.reporting.ablation) and the committed ablation.md."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_report import _run, _tasks

from llmr.core.io import write_json
from llmr.reporting.ablation import ablation_tables, publish, render, setting

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "results"


def _write_eval(tmp_path: Path, run: Path, retriever: str, scores: dict[str, list[float]]):
    out = run / "results/eval" / retriever / "task_filter"
    out.mkdir(parents=True)
    met, pred = _run(tmp_path, retriever, "task_filter", scores)
    shutil.copy(met, out / "metrics.json")
    shutil.copy(pred, out / "predictions.parquet")


def _model_metrics(run: Path, n_queries: int, max_prob: float) -> None:
    (run / "results/models").mkdir(parents=True, exist_ok=True)
    write_json(
        {
            "n_queries": n_queries,
            "heldback_acc1": 0.5,
            "train_acc1": 0.9,
            "diagnostics": {"teacher_max_prob": max_prob, "teacher_entropy": 0.4, "kl": 0.2},
        },
        str(run / "results/models/llmr1.metrics.json"),
    )


def _const(value: float) -> dict[str, list[float]]:
    return {"t1": [value] * 10, "t2": [value] * 10, "t3": [value] * 4}


@pytest.fixture
def folders(tmp_path):
    """Two default seeds (llm_kd 0.5, default LLM-R 0.25 / 0.75, BM25 0) and a variant
    whose LLM-R scores 1.0 in seed 0 and 0.0 in seed 1."""
    tasks = _tasks(tmp_path)
    seeds, ablation, variants = tmp_path / "seeds", tmp_path / "abl", tmp_path / "variants"
    for s, default in ((0, 0.25), (1, 0.75)):
        run = seeds / f"seed{s}"
        (run / "results/data").mkdir(parents=True)
        shutil.copy(tasks, run / "results/data/tasks.parquet")
        for name, value in (("llm_kd", 0.5), ("bm25", 0.0), ("llmr1", default)):
            _write_eval(tmp_path, run, name, _const(value))
        _model_metrics(run, 100, 0.9)
        var = ablation / "hot" / f"seed{s}"  # a run folder, as scripts/ablation.sh makes
        (var / "results/data").mkdir(parents=True)
        shutil.copy(tasks, var / "results/data/tasks.parquet")
        _write_eval(tmp_path, var, "llmr1", _const(1.0 - s))
        _model_metrics(var, 40 + s, 0.6)
    variants.mkdir()
    (variants / "hot.yaml").write_text("# comment\nretriever:\n  teacher_temperature: 2.0\n")
    return ablation, seeds, variants


def test_deltas_are_paired_per_seed_and_seed_averaged(folders):
    ablation, seeds, variants = folders
    deltas, training = ablation_tables(str(ablation), str(seeds), str(variants), n_boot=50)

    def row(variant, seeds_, task, vs):
        r = deltas[
            (deltas.variant == variant)
            & (deltas.seeds == seeds_)
            & (deltas.task == task)
            & (deltas.vs == vs)
        ]
        assert len(r) == 1, (variant, seeds_, task, vs)
        return r.iloc[0]

    # seeds averaged per query: the variant is 0.5 on average, as llm_kd and the default
    both = row("hot", "0,1", "mean_held_in", "llm_kd")
    assert both.value == pytest.approx(50.0) and both.delta == pytest.approx(0.0)
    assert row("hot", "0,1", "mean_all", "bm25").delta == pytest.approx(50.0)
    # each seed alone is paired with that seed's references
    assert row("hot", "0", "mean_held_in", "llm_kd").delta == pytest.approx(50.0)
    assert row("hot", "0", "mean_held_in", "default").delta == pytest.approx(75.0)
    assert row("hot", "1", "t1", "default").delta == pytest.approx(-75.0)
    one = row("hot", "1", "mean_held_in", "llm_kd")
    assert (one.ci_low, one.ci_high) == pytest.approx((-50.0, -50.0))  # constant scores
    assert row("default", "0,1", "t2", "llm_kd").delta == pytest.approx(0.0)
    assert not len(deltas[(deltas.variant == "default") & (deltas.vs == "default")])
    assert set(deltas.setting) == {"config.yaml", "retriever.teacher_temperature=2.0"}
    hot = training[training.variant == "hot"]
    assert hot.n_queries.tolist() == [40, 41] and hot.teacher_max_prob.tolist() == [0.6, 0.6]
    assert hot.contrastive.isna().all()  # absent from the metrics: left empty


def test_publish_renders_from_the_csv_and_keeps_the_variant_runs(folders, tmp_path):
    ablation, seeds, variants = folders
    out = tmp_path / "out"
    text = publish(str(ablation), str(seeds), str(out), str(variants), n_boot=50)
    assert text == (out / "ablation.md").read_text() == render(str(out))
    assert "| hot | retriever.teacher_temperature=2.0 | 0,1 | 50.0 |" in text
    assert "+50.0, -50.0" in text  # each seed's delta vs llm_kd
    assert 'SEEDS="0 1" scripts/ablation.sh runs/default runs/ablation hot\n' in text
    # task families of the held-in tasks (t1 classification, t2 multiple choice)
    fam = text.split("## Per task family (held-in tasks): Δ vs llm_kd")[1].split("##")[0]
    assert "| task | default | hot |" in fam and "| multiple_choice |" in fam
    assert "| generation |" not in fam  # t3, the generation task, is held out
    vs_default = text.split("Δ vs the default LLM-R")[1].split("##")[0]
    assert "| task | hot |" in vs_default and "| classification | +0.0 [+0.0, +0.0] |" in vs_default
    kept = sorted(p.relative_to(out).as_posix() for p in (out / "ablation").rglob("*.json"))
    assert kept == [
        f"ablation/hot/seed{s}/results/eval/llmr1/task_filter/metrics.json" for s in (0, 1)
    ]
    df = pd.read_csv(out / "ablation.csv", dtype={"seeds": str})
    df.loc[df.variant == "hot", "value"] += 1.0  # a changed number changes the markdown
    df.to_csv(out / "ablation.csv", index=False)
    assert "| hot | retriever.teacher_temperature=2.0 | 0,1 | 51.0 |" in render(str(out))


def test_a_seed_not_rerun_yet_is_left_out(folders):
    """scripts/ablation.sh starts a variant's seed from hard links to the default run: until
    Snakemake has rerun LLM-R there, that seed is not the variant's."""
    ablation, seeds, variants = folders
    rel = Path("results/eval/llmr1/task_filter")
    shutil.rmtree(ablation / "hot" / "seed1" / rel)
    (ablation / "hot" / "seed1" / rel).mkdir()
    for f in (seeds / "seed1" / rel).iterdir():
        (ablation / "hot" / "seed1" / rel / f.name).hardlink_to(f)
    deltas, training = ablation_tables(str(ablation), str(seeds), str(variants), n_boot=10)
    assert set(deltas[deltas.variant == "hot"].seeds) == {"0"}
    assert training[training.variant == "hot"].seed.tolist() == [0]


def test_a_variant_without_its_default_seed_or_overlay_is_refused(folders):
    ablation, seeds, variants = folders
    shutil.copytree(ablation / "hot" / "seed1", ablation / "hot" / "seed7")
    with pytest.raises(ValueError, match=r"seeds \[7\] have no default run"):
        ablation_tables(str(ablation), str(seeds), str(variants), n_boot=10)
    shutil.rmtree(ablation / "hot" / "seed7")
    (variants / "hot.yaml").unlink()
    with pytest.raises(ValueError, match="no overlay"):
        ablation_tables(str(ablation), str(seeds), str(variants), n_boot=10)


def test_setting_flattens_an_overlay(tmp_path):
    p = tmp_path / "v.yaml"
    p.write_text("teacher:\n  topk: 100\n  llm_scored_only: true\nretriever:\n  lr: 0.001\n")
    assert setting(p) == "teacher.topk=100; teacher.llm_scored_only=true; retriever.lr=0.001"


def test_committed_ablation_md_matches_its_csv():
    assert (COMMITTED / "ablation.md").read_text() == render(str(COMMITTED))


def test_a_published_default_seed_without_model_metrics_has_no_training_row(folders):
    """docs/results keeps a seed's evaluations only: its deltas still count, its training
    row is left out; a variant run without its model metrics is refused."""
    ablation, seeds, variants = folders
    (seeds / "seed1/results/models/llmr1.metrics.json").unlink()
    deltas, training = ablation_tables(str(ablation), str(seeds), str(variants), n_boot=10)
    assert set(deltas[deltas.variant == "default"].seeds) == {"0,1", "0", "1"}
    assert training[training.variant == "default"].seed.tolist() == [0]
    (ablation / "hot/seed1/results/models/llmr1.metrics.json").unlink()
    with pytest.raises(ValueError, match="no LLM-R model metrics"):
        ablation_tables(str(ablation), str(seeds), str(variants), n_boot=10)
