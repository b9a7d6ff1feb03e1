"""config/paper.yaml, the hub source and the released checkpoint, all without a network."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llmr.core.io import RecordError
from llmr.core.schema import section_defaults
from llmr.data.tasks.hub import HubUnreachable, fetch_released, released_root, validate_released
from llmr.data.tasks.original import PAPER_HELD_OUT, PAPER_TASKS
from llmr.data.tasks.released import load_released

from helpers.workflow import (
    REPO,
    copy_workflow,
    overlay_config,
    planned_jobs,
    tiny_config,
    write_config,
)

PAPER = REPO / "config" / "paper.yaml"
# what the rule fetch_released passes under the default schema
_SUITE = section_defaults("suite")
HUB = {"repo_id": _SUITE["hub_repo"], "revision": _SUITE["hub_revision"]}


@pytest.fixture(scope="module")
def paper_cfg() -> dict:
    """config/paper.yaml merged over config.yaml, as ``--configfile`` merges it."""
    return overlay_config(PAPER)


def test_paper_config_validates_against_the_schema(paper_cfg):
    from snakemake.utils import validate

    cfg = json.loads(json.dumps(paper_cfg))
    validate(cfg, str(REPO / "schemas" / "config.schema.yaml"))


def test_paper_config_has_the_papers_settings(paper_cfg):
    c = paper_cfg
    assert tuple(sorted(c["suite"]["tasks"])) == PAPER_TASKS
    assert tuple(c["suite"]["held_out"]) == PAPER_HELD_OUT
    assert c["models"] == {
        **c["models"],
        "llm": "huggyllama/llama-7b",
        "encoder": "intfloat/e5-base-v2",
        "reward_init": "google/electra-base-discriminator",
    }
    assert (c["reward"]["steps"], c["reward"]["batch_size"], c["reward"]["lr"]) == (3000, 128, 1e-5)
    assert (c["retriever"]["steps"], c["retriever"]["batch_size"], c["retriever"]["lr"]) == (
        6000,
        256,
        3e-5,
    )
    assert (c["score"]["n_candidates"], c["bm25"]["topk"], c["eval"]["k"]) == (32, 100, 8)
    assert c["rounds"] == 2 and c["suite"]["source"] == "hub"
    assert "intfloat/llm-retriever-base" in c["eval"]["extra_retrievers"].values()


def _paper_dry_run(tmp_path: Path, *args: str) -> dict[str, int]:
    wd = copy_workflow(tmp_path / "wf")
    return planned_jobs(wd, "--configfile", str(PAPER), *args)


@pytest.mark.slow
def test_paper_config_plans_the_whole_dag_on_slurm(tmp_path, paper_cfg):
    """snakemake -n --configfile config/paper.yaml --profile profiles/slurm (nothing runs)."""
    jobs = _paper_dry_run(tmp_path, "--profile", "profiles/slurm")
    assert jobs["fetch_released"] == 3  # train, test, passages
    assert jobs["train_reward"] == jobs["train_retriever"] == 2  # two rounds
    assert jobs["llm_score"] == 2 * paper_cfg["score"]["shards"]
    # zero-shot, random, k-means, BM25, E5, EPR, LLM-R 1 and 2, the released checkpoint
    assert jobs["llm_eval"] == 9
    assert jobs["dense_index"] == 5  # E5, EPR, LLM-R 1, LLM-R 2, the released checkpoint
    assert {"prepare", "bm25_topk", "reward_score", "search_topk", "summary"} <= set(jobs)


@pytest.mark.slow
def test_paper_config_plans_from_the_original_datasets(tmp_path, paper_cfg):
    cfg = json.loads(json.dumps(paper_cfg))
    cfg["suite"]["source"] = "original"  # no local copies: prepare loads them from the hub
    path = tmp_path / "original.yaml"
    path.write_text(yaml.safe_dump(cfg))
    wd = copy_workflow(tmp_path / "wf")
    jobs = planned_jobs(wd, "--configfile", str(path))
    assert "fetch_released" not in jobs and jobs["prepare"] == 1 and jobs["llm_eval"] == 9


def _write_jsonl_gz(path: Path, records: list[dict]) -> Path:
    with gzip.open(path, "wt") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path


def test_fetch_fails_at_once_offline_and_names_released_dir(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    t0 = time.perf_counter()
    with pytest.raises(HubUnreachable, match="suite.released_dir") as e:
        fetch_released(
            "train", str(tmp_path / "train.jsonl.gz"), **HUB | {"repo_id": "nobody/no-such-data"}
        )
    assert "offline" in str(e.value) and time.perf_counter() - t0 < 10
    assert not (tmp_path / "train.jsonl.gz").exists()


def test_fetch_fails_at_once_when_no_hub_answers(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    t0 = time.perf_counter()
    with pytest.raises(HubUnreachable, match="suite.released_dir"):
        fetch_released(
            "test",
            str(tmp_path / "test.jsonl.gz"),
            **HUB,
            endpoint="http://127.0.0.1:9",
            timeout=2.0,
        )
    assert time.perf_counter() - t0 < 10


def test_fetch_copies_and_validates_a_downloaded_file(tmp_path, monkeypatch, tiny_suite_dir):
    """A stand-in for the hub returns local files: good ones are copied, bad ones rejected."""
    import huggingface_hub
    from huggingface_hub import constants

    served = {
        "train.jsonl.gz": Path(tiny_suite_dir) / "train.jsonl.gz",
        "passages.jsonl.gz": Path(tiny_suite_dir) / "passages.jsonl.gz",
        "test.jsonl.gz": _write_jsonl_gz(
            tmp_path / "bad_test.jsonl.gz",
            [
                {
                    "query_id": "q1",
                    "query": "x",
                    "answers": ["E"],
                    "options": ["a", "b"],
                    "task_name": "t",
                }
            ],
        ),
        "bm25_train.jsonl.gz": _write_jsonl_gz(
            tmp_path / "bm25.jsonl.gz",
            [
                {
                    "query_id": "q1",
                    "query": "x",
                    "answers": ["a"],
                    "options": [""],
                    "task_name": "t",
                    "doc_ids": ["1", "2"],
                    "doc_scores": [1.0],
                }
            ],
        ),
    }
    calls = []

    def fake_download(repo_id, filename, **kw):
        calls.append((repo_id, filename, kw.get("repo_type")))
        return str(served[filename])

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr("llmr.data.tasks.hub.check_reachable", lambda endpoint, timeout: None)
    out = tmp_path / "resources" / "released"
    for name in ("train", "passages"):
        fetch_released(name, str(out / f"{name}.jsonl.gz"), **HUB)
        assert (out / f"{name}.jsonl.gz").read_bytes() == served[f"{name}.jsonl.gz"].read_bytes()
    assert calls[0] == ("intfloat/llm-retriever-tasks", "train.jsonl.gz", "dataset")
    with pytest.raises(RecordError, match="answer 'E'"):
        fetch_released("test", str(out / "test.jsonl.gz"), **HUB)
    with pytest.raises(RecordError, match="differ in length"):
        fetch_released("bm25_train", str(out / "bm25_train.jsonl.gz"), **HUB)
    assert not (out / "test.jsonl.gz").exists() and not (out / "bm25_train.jsonl.gz").exists()
    with pytest.raises(ValueError, match="unknown released file"):
        fetch_released("dev", str(out / "dev.jsonl.gz"), **HUB)


def test_validate_counts_records(tiny_suite_dir):
    n = sum(1 for _ in gzip.open(Path(tiny_suite_dir) / "test.jsonl.gz", "rt"))
    assert validate_released(Path(tiny_suite_dir) / "test.jsonl.gz", "test") == n


def test_released_root_of_the_fetched_files():
    files = [f"resources/released/{s}.jsonl.gz" for s in ("train", "test", "passages")]
    assert released_root(files) == "resources/released"
    assert released_root("data/tasks") == "data/tasks"
    with pytest.raises(ValueError, match="several folders"):
        released_root(["a/train.jsonl.gz", "b/test.jsonl.gz"])


def test_released_reader_takes_paper_metrics_from_the_table(tmp_path):
    """Paper task names get their metric and labels from the definitions, not a guess."""
    recs = {
        "common_gen": ("Concepts: a, b.", ["A b."], [""]),
        "mrpc": ("s1 s2 Same?", ["Yes"], [""]),
        "squad_v1": ("ctx q", ["Paris"], [""]),
        "copa": ('"p" What is the cause?', ["B"], ["x", "y"]),
        "my_task": ("free text", ["some words"], [""]),
    }
    train, test, passages = [], [], []
    for split, rows in (("train", train), ("test", test)):
        for t, (q, a, o) in recs.items():
            for i in range(2):
                rows.append(
                    {
                        "query_id": f"{t}_{split}_{i}",
                        "query": f"{q} {i}",
                        "answers": a,
                        "options": o,
                        "task_name": t,
                    }
                )
    for i, r in enumerate(train):
        passages.append({"id": str(i), "contents": r["query"] + "\nx", "task_name": r["task_name"]})
    for name, rows in (("train", train), ("test", test), ("passages", passages)):
        _write_jsonl_gz(tmp_path / f"{name}.jsonl.gz", rows)
    *_, meta = load_released(str(tmp_path), list(recs), {}, None, None, seed=0)
    assert meta["common_gen"]["metric"] == "rouge"  # a guess would say exact_match
    assert meta["mrpc"] == {
        "task_type": "classification",
        "metric": "f1_acc",
        "labels": ["No", "Yes"],
    }
    assert meta["squad_v1"]["metric"] == "exact_match"
    assert meta["copa"]["task_type"] == "multiple_choice"
    assert meta["my_task"]["metric"] == "exact_match"  # not a paper task: inferred as before


def test_released_checkpoint_with_a_local_encoder(tmp_path, tiny_data, tiny_encoder):
    """extra_retrievers takes a folder standing in for intfloat/llm-retriever-base."""
    from llmr.retrieval.index import build_index, search

    index = tmp_path / "index"
    from llmr.core.schema import stage_defaults

    build_index(
        tiny_encoder,
        tiny_data["passages"],
        str(index),
        **stage_defaults(build_index, "models", "retriever") | {"max_length": 32},
    )
    out = tmp_path / "cands.parquet"
    search(
        str(index),
        tiny_encoder,
        tiny_data["passages"],
        tiny_data["test"],
        str(out),
        **stage_defaults(search, "models", "retriever") | {"topk": 5, "max_length": 32},
    )
    cands = pd.read_parquet(out)
    test = pd.read_parquet(tiny_data["test"])
    assert len(cands) == len(test) and all(len(d) == 5 for d in cands.doc_ids)
    pool = set(pd.read_parquet(tiny_data["passages"]).id)
    assert all(set(d) <= pool for d in cands.doc_ids)


@pytest.mark.slow
def test_released_checkpoint_is_planned_like_any_dense_retriever(
    tmp_path, tiny_suite_dir, tiny_lm, tiny_encoder
):
    wd = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(tiny_suite_dir, tiny_lm, tiny_encoder)
    cfg["eval"]["extra_retrievers"] = {"llm_retriever_base": tiny_encoder}
    write_config(wd, cfg)
    proc_jobs = planned_jobs(wd, "results/eval/llm_retriever_base/task_filter/metrics.json")
    assert proc_jobs.get("dense_index") == 1 and proc_jobs.get("llm_eval") == 1
    assert "train_reward" not in proc_jobs  # evaluated as-is, nothing trained


@pytest.mark.slow
def test_given_released_teacher_files_are_fetched_from_the_hub(tmp_path, paper_cfg):
    cfg = json.loads(json.dumps(paper_cfg))
    cfg["given"]["teacher"] = [
        "resources/released/kd_bm25_train.jsonl.gz",
        "resources/released/kd_it2_train.jsonl.gz",
    ]
    path = tmp_path / "given.yaml"
    path.write_text(yaml.safe_dump(cfg))
    wd = copy_workflow(tmp_path / "wf")
    jobs = planned_jobs(wd, "--configfile", str(path))
    assert jobs["fetch_released"] == 5 and jobs["given_teacher"] == 2


@pytest.mark.slow
def test_hub_source_prepares_from_the_fetched_files(
    tmp_path, tiny_suite_dir, tiny_lm, tiny_encoder
):
    """With the released files already fetched, rule prepare reads them (source: hub)."""
    import shutil

    from helpers.workflow import snakemake

    wd = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(tiny_suite_dir, tiny_lm, tiny_encoder)
    cfg["suite"].update(source="hub", released_dir=None)
    write_config(wd, cfg)
    assert planned_jobs(wd, "results/data/tasks.parquet") == {"fetch_released": 3, "prepare": 1}
    (wd / "resources" / "released").mkdir(parents=True)
    for name in ("train", "test", "passages"):
        shutil.copy(Path(tiny_suite_dir) / f"{name}.jsonl.gz", wd / "resources" / "released")
    snakemake(wd, "results/data/tasks.parquet")
    tasks = pd.read_parquet(wd / "results/data/tasks.parquet")
    assert list(tasks.task_name) == ["cls_sent", "mc_pick", "gen_echo"]
    assert set(tasks.source) == {"hub"} and (tasks.n_test > 0).all()
