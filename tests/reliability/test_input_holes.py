"""Issue 26's reliability holes, one family per section: each bad input is refused where it
enters, with a message naming the file / key / record and the fix, and nothing partial (nor
anything outside its folder) is left behind.

Families: zip-slip in wheels; names used as paths and wildcards; multi-line classification
labels; config traps (duplicate keys, missing given files, contradictory values); templating
and package specs; file modes of artifacts; export checks; bad records; ``llmr retrieve``
edges. ``BAD_INPUTS`` counts the distinct bad inputs (docs/RELIABILITY.md quotes it).
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llmr.core.io import RecordError, atomic_path, write_parquet
from llmr.core.schema import stage_defaults

from helpers.tiny import prepare_into

ROOT = Path(__file__).resolve().parents[2]
EX = {
    "query_id": "q1",
    "query": "Which?",
    "answers": ["A"],
    "options": ["a", "b"],
    "task_name": "t",
}


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ------------------------------------------------------------------- 1. zip-slip

ZIP_CASES = {
    "zip_dotdot_member": (
        "pkg/model",
        "pkg/model/../../evil.txt",
        r"'\.\./\.\./evil\.txt' would "
        r"be written outside its folder",
    ),
    "zip_absolute_member": (
        "pkg/model",
        "pkg/model//tmp/llmr-zip-slip-evil.txt",
        r"'/tmp/llmr-zip-slip-evil\.txt' would be written outside",
    ),
    "zip_dotdot_subdir": (
        "pkg/../..",
        "pkg/../../evil.txt",
        r"subdir: member 'pkg/\.\./\.\.' "
        r"would be written outside",
    ),
    "zip_backslash_member": (
        "pkg/model",
        "pkg/model/..\\..\\evil.txt",
        r"would be written "
        r"outside its folder",
    ),
}


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_wheel_member_outside_its_folder_is_refused(case, tmp_path):
    from llmr.data.resources import build_offline_model

    subdir, evil, message = ZIP_CASES[case]
    wheel = tmp_path / "work" / "m.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/model/config.json", "{}")  # a good member first
        zf.writestr(evil, b"owned")
    out = tmp_path / "work" / "out" / "model"
    with pytest.raises(ValueError, match=message):
        build_offline_model(str(wheel), str(out), subdir=subdir)
    assert files_in(out.parent) == []
    assert [p.name for p in files_in(tmp_path)] == ["m.whl"]  # nothing written anywhere
    assert not Path("/tmp/llmr-zip-slip-evil.txt").exists()


def test_good_wheel_still_unpacks(tmp_path):
    from llmr.data.resources import unpack_model

    wheel = tmp_path / "m.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/model/config.json", "{}")
        zf.writestr("pkg/model/sub/tok.json", "{}")
    unpack_model(str(wheel), "pkg/model", str(tmp_path / "model"))
    assert sorted(str(p.relative_to(tmp_path / "model")) for p in files_in(tmp_path / "model")) == [
        "config.json",
        "sub/tok.json",
    ]


# --------------------------------------------------------- 2. names used as paths


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _validate(cfg):
    from snakemake.utils import validate

    validate(cfg, schema=str(ROOT / "schemas" / "config.schema.yaml"))


def _set(path: str, value):
    def mutate(c):
        *keys, last = path.split(".")
        node = c
        for k in keys:
            node = node.setdefault(k, {})
        node[last] = value

    return mutate


NAME_CASES = {
    "extra_retriever_climbs_out": (
        _set("eval.extra_retrievers", {"../../x": "enc"}),
        r"'\.\./\.\./x' does not match.*instance\['eval'\]"
        r"\['extra_retrievers'\]",
    ),
    "extra_retriever_regex_chars": (
        _set("eval.extra_retrievers", {"a(b|c)*": "enc"}),
        r"'a\(b\|c\)\*' does not match.*\['extra_retrievers'\]",
    ),
    "extra_retriever_builtin_name": (
        _set("eval.extra_retrievers", {"bm25": "enc"}),
        r"'bm25' should not be valid under.*\['extra_retrievers'\]",
    ),
    "extra_retriever_round_name": (
        _set("eval.extra_retrievers", {"llmr1": "enc"}),
        r"'llmr1' should not be valid under.*\['extra_retrievers'\]",
    ),
    "extra_retriever_absolute": (
        _set("eval.extra_retrievers", {"/tmp/x": "enc"}),
        r"'/tmp/x' does not match.*\['extra_retrievers'\]",
    ),
    "offline_model_climbs_out": (
        _set("offline_models", {"../m": {"package": "x==1", "subdir": "m"}}),
        r"'\.\./m' does not match.*instance\['offline_models'\]",
    ),
    "offline_model_regex_chars": (
        _set("offline_models", {"a|b": {"package": "x==1", "subdir": "m"}}),
        r"'a\|b' does not match.*instance\['offline_models'\]",
    ),
    "offline_model_subdir_climbs_out": (
        _set("offline_models", {"m": {"package": "x==1", "subdir": "../../etc"}}),
        r"'\.\./\.\./etc' does not match.*\['offline_models'\]\['m'\]\['subdir'\]",
    ),
    "offline_model_gguf_path": (
        _set("offline_models", {"m": {"package": "x==1", "gguf_file": "../x.gguf"}}),
        r"'\.\./x\.gguf' does not match.*\['gguf_file'\]",
    ),
    "task_name_climbs_out": (
        _set("suite.tasks", ["../../etc"]),
        r"'\.\./\.\./etc' does not match.*instance\['suite'\]\['tasks'\]",
    ),
    "held_out_absolute": (
        _set("suite.held_out", ["/etc"]),
        r"'/etc' does not match.*instance\['suite'\]\['held_out'\]",
    ),
}


@pytest.mark.parametrize("case", sorted(NAME_CASES))
def test_name_used_as_a_path_is_refused_by_the_schema(case, config):
    from snakemake.exceptions import WorkflowError

    mutate, message = NAME_CASES[case]
    cfg = copy.deepcopy(config)
    _validate(copy.deepcopy(cfg))
    mutate(cfg)
    with pytest.raises(WorkflowError, match=f"(?s){message}"):
        _validate(cfg)


def test_good_names_pass(config):
    cfg = copy.deepcopy(config)
    cfg["eval"]["extra_retrievers"] = {"my-e5_v2": "enc", "LLMR_other": "enc2"}
    cfg["offline_models"]["qwen2.5-0.5b"] = {"package": "x==1", "subdir": "pkg/model"}
    cfg["suite"]["tasks"] = ["arithmetic/1_digit_addition", "sst2"]
    cfg["suite"]["held_out"] = ["sst2"]
    _validate(cfg)


# ----------------------------------------------- 3. multi-line classification labels


def _released(tmp: Path, train, test, passages):
    src = tmp / "src"
    src.mkdir()
    for name, recs in (("train", train), ("test", test), ("passages", passages)):
        with gzip.open(src / f"{name}.jsonl.gz", "wb") as fh:
            fh.write(b"".join(json.dumps(r).encode() + b"\n" for r in recs))
    return src


def _prepare(source, src, out, tasks=("t",), task_types=None):
    prepare_into(source, src, out, tasks, task_types)


def _cls(i, label):
    return {
        "query_id": f"q{i}",
        "query": f"review {i}",
        "answers": [label],
        "options": [""],
        "task_name": "t",
    }


def test_released_classification_label_with_a_newline_is_refused(tmp_path):
    labels = ["very\ngood", "bad"]
    train = [_cls(i, labels[i % 2]) for i in range(8)]
    test = [_cls(100 + i, labels[i % 2]) for i in range(2)]
    pas = [
        {"id": f"p{i}", "contents": f"review {i}\n{labels[i % 2]}", "task_name": "t"}
        for i in range(8)
    ]
    src, out = _released(tmp_path, train, test, pas), tmp_path / "out"
    with pytest.raises(
        RecordError,
        match=r"task 't': classification label 'very\\ngood' "
        r"contains a line break; labels must be one line.*"
        r"suite\.task_types\.t",
    ):
        _prepare("released", src, out, task_types={"t": "classification"})
    assert files_in(out) == []
    # inferred type (no task_types): the same refusal, naming the label
    with pytest.raises(RecordError, match=r"'very\\ngood' contains a line break"):
        _prepare("released", src, out)
    assert files_in(out) == []


def test_bigbench_multiline_labels_make_a_multiple_choice_task(tmp_path):
    """A BIG-bench option set of several-line labels cannot be compared by label: the task
    is converted as multiple choice (answers are letters), never as classification."""
    from llmr.data.tasks.bigbench import load_bigbench_tasks

    root = tmp_path / "bb"
    (root / "t").mkdir(parents=True)
    exs = [
        {"input": f"q{i}", "target_scores": {"yes\nsure": i % 2, "no": 1 - i % 2}}
        for i in range(10)
    ]
    (root / "t" / "task.json").write_text(
        json.dumps({"examples": exs, "metrics": ["multiple_choice_grade"]})
    )
    train, test, passages, meta = load_bigbench_tasks(str(root), ["t"], 0, 0.3, None, None, {}, 0.1)
    assert meta["t"]["task_type"] == "multiple_choice"
    assert set(a[0] for a in train["answers"]) <= {"A", "B"}


def test_given_classification_answer_with_a_newline_is_refused(tmp_path):
    from llmr.data.given import import_candidates

    pool, tasks = tmp_path / "passages.parquet", tmp_path / "tasks.parquet"
    write_parquet(
        pd.DataFrame(
            {"id": ["p1", "p2"], "contents": ["a\ngood", "b\nbad"], "task_name": ["t", "t"]}
        ),
        pool,
    )
    write_parquet(pd.DataFrame({"task_name": ["t"], "task_type": ["classification"]}), tasks)
    src = tmp_path / "given.jsonl"
    rec = {**_cls(1, "very\ngood"), "doc_ids": ["p1", "p2"], "doc_scores": [0.0, -1.0]}
    src.write_text(json.dumps(rec) + "\n")
    out = tmp_path / "out" / "scores.parquet"
    with pytest.raises(
        RecordError,
        match=r"record 1 \(query_id=q1\): task 't' is a "
        r"classification task but the answer 'very\\ngood' "
        r"contains a line break",
    ):
        import_candidates(str(src), str(pool), str(out), kind="scores", tasks=str(tasks))
    assert files_in(out.parent) == []


# ------------------------------------------------------------------ 4. config traps


def _check(cfg, workdir="."):
    from llmr.core.config_checks import check_config

    check_config(cfg, workdir)


CROSS_CASES = {
    "teacher_topk_above_bm25_topk": (
        {"teacher.topk": 200, "bm25.topk": 100},
        r"teacher\.topk \(200\) > bm25\.topk \(100\)",
    ),
    "n_candidates_above_bm25_topk": (
        {"score.n_candidates": 64, "bm25.topk": 50, "teacher.topk": 50},
        r"score\.n_candidates \(64\) > bm25\.topk \(50\)",
    ),
    "reward_pos_top_no_negatives": (
        {"reward.pos_top": 32, "score.n_candidates": 32},
        r"reward\.pos_top \(32\) >= score\.n_candidates \(32\).*no "
        r"negatives",
    ),
    "epr_pos_top_no_negatives": (
        {"epr.pos_top": 40, "score.n_candidates": 32},
        r"epr\.pos_top \(40\) >= score\.n_candidates \(32\)",
    ),
    "retriever_pos_top_no_negatives": (
        {"retriever.pos_top": 100, "teacher.topk": 100},
        r"retriever\.pos_top \(100\) >= teacher\.topk \(100\)",
    ),
    "reward_more_negatives_than_its_window": (
        {"reward.n_negatives": 20, "reward.neg_bottom": 16},
        r"reward\.n_negatives \(20\) > reward\.neg_bottom \(16\)",
    ),
    "retriever_more_negatives_than_its_window": (
        {"retriever.n_negatives": 17, "retriever.neg_bottom": 16},
        r"retriever\.n_negatives \(17\) > retriever\.neg_bottom \(16\)",
    ),
    "eval_k_above_the_pool": (
        {
            "suite.source": "bigbench",
            "suite.max_train_per_task": 2,
            "suite.tasks": ["a", "b"],
            "suite.held_out": ["b"],
            "eval.k": 8,
        },
        r"eval\.k \(8\) is above the demonstration pool: "
        r"suite\.max_train_per_task \(2\) x 2 task\(s\) = at most 4",
    ),
    "no_retriever_to_evaluate": ({"eval.retrievers": []}, r"eval\.retrievers is empty"),
    "every_task_held_out": (
        {"suite.tasks": ["a", "b"], "suite.held_out": ["b", "a"]},
        r"suite\.held_out holds every task of suite\.tasks",
    ),
    "task_types_unknown_task": (
        {"suite.task_types": {"nope": "classification"}},
        r"suite\.task_types names task\(s\) not in suite\.tasks: "
        r"\['nope'\]",
    ),
    "task_metrics_unknown_task": (
        {"suite.task_metrics": {"nope": "rouge"}},
        r"suite\.task_metrics names task\(s\) not in suite\.tasks",
    ),
    "held_out_unknown_task": (
        {"suite.held_out": ["nope"]},
        r"suite\.held_out names tasks not in suite\.tasks: \['nope'\]",
    ),
    "released_source_without_its_folder": (
        {"suite.source": "released", "suite.released_dir": None},
        r"suite\.source is 'released' but suite\.released_dir is not set",
    ),
    "original_dir_missing": (
        {"suite.source": "original", "suite.original_dir": "no/such/dir"},
        r"suite\.original_dir: no folder 'no/such/dir'",
    ),
    "local_model_folder_missing": (
        {"models.encoder": "./no/such/encoder"},
        r"models\.encoder: local model path '\./no/such/encoder' does not exist",
    ),
    "given_scores_missing_file": (
        {"given.scores": "no/such/scores.jsonl.gz"},
        r"given\.scores: no file 'no/such/scores\.jsonl\.gz'; a given "
        r"file is an input that must exist",
    ),
    "given_teacher_missing_file": (
        {"given.teacher": ["t0.jsonl", "missing.jsonl"]},
        r"given\.teacher\[1\]: no file 'missing\.jsonl'",
    ),
    "package_is_a_pip_option": (
        {"offline_models": {"m": {"package": "--index-url=http://evil", "subdir": "m"}}},
        r"offline_models\.m\.package: '--index-url=http://evil' is not a "
        r"package requirement.*reach pip as an option",
    ),
    "package_is_a_direct_url": (
        {"offline_models": {"m": {"package": "x @ https://example.org/x.whl", "subdir": "m"}}},
        r"offline_models\.m\.package: .* is a direct URL",
    ),
    "package_is_not_a_requirement": (
        {"bigbench_package": "bigbench 1.0"},
        r"bigbench_package: 'bigbench 1\.0' is not a package "
        r"requirement",
    ),
}


@pytest.mark.parametrize("case", sorted(CROSS_CASES))
def test_contradictory_config_refused_before_any_job(case, config, tmp_path):
    from llmr.core.config_checks import ConfigError

    changes, message = CROSS_CASES[case]
    cfg = copy.deepcopy(config)
    _validate(cfg)  # fills the defaults, as the Snakefile does
    (tmp_path / "t0.jsonl").write_text("{}\n")
    _check(copy.deepcopy(cfg), tmp_path)  # the default config passes
    for key, value in changes.items():
        _set(key, value)(cfg)
    with pytest.raises(ConfigError, match=f"(?s){message}"):
        _check(cfg, tmp_path)
    assert [p.name for p in files_in(tmp_path)] == ["t0.jsonl"]


def test_given_file_made_by_a_rule_may_be_absent(config, tmp_path):
    cfg = copy.deepcopy(config)
    _validate(cfg)
    cfg["given"]["teacher"] = ["resources/released/kd_bm25_train.jsonl.gz"]
    _check(cfg, tmp_path)  # rule fetch_released makes it


FILE_CASES = {
    "duplicate_top_level_section": (
        "suite: {source: released, tasks: [a], held_out: []}\neval:\n  k: 8\nrounds: 1\n"
        "eval:\n  k: 4\n",
        r"line 5: duplicate key 'eval' \(also on line 2\); YAML keeps only the last one",
    ),
    "duplicate_nested_key": (
        "eval:\n  k: 8\n  seed: 1\n  k: 4\n",
        r"line 4: duplicate key 'k' \(also on line 2\)",
    ),
    "duplicate_json_key": (
        '{"eval": {"k": 8}, "eval": {"k": 4}}',
        r"duplicate key 'eval'; JSON keeps only the last one",
    ),
    "yte_templating": (
        "__use_yte__: true\nrounds: ?1 + 1\n",
        r"__use_yte__ \(Snakemake's YAML templating\) is not accepted",
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_config_file_traps(case, tmp_path):
    from llmr.core.config_checks import ConfigError, check_config_files

    text, message = FILE_CASES[case]
    path = tmp_path / "extra.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"extra\\.yaml: {message}"):
        check_config_files([str(ROOT / "config.yaml"), str(path)])


def test_merge_keys_are_not_duplicates(tmp_path):
    from llmr.core.config_checks import check_config_files

    path = tmp_path / "anchors.yaml"
    path.write_text("base: &b {k: 8, seed: 1}\neval:\n  <<: *b\n  k: 4\n")
    check_config_files([str(path)])


def _dry_run(tmp_path, extra: str) -> subprocess.CompletedProcess:
    """``snakemake -n --configfile extra.yaml`` in a copy of the workflow (as this user)."""
    from helpers.workflow import copy_workflow, snakemake_command

    wd = copy_workflow(tmp_path / "wf")
    (wd / "extra.yaml").write_text(extra)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(wd)}
    return subprocess.run(
        snakemake_command("-n", "--configfile", "extra.yaml"),
        cwd=wd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.workflow
def test_snakemake_refuses_a_duplicate_key_and_a_contradiction_before_any_job(tmp_path):
    proc = _dry_run(tmp_path / "a", "eval:\n  k: 8\neval:\n  k: 4\n")
    assert proc.returncode != 0
    assert "extra.yaml: line 3: duplicate key 'eval' (also on line 1)" in proc.stdout + proc.stderr
    proc = _dry_run(tmp_path / "b", "teacher: {topk: 500}\n")
    assert proc.returncode != 0
    assert "teacher.topk (500) > bm25.topk (100)" in proc.stdout + proc.stderr
    for run in ("a", "b"):
        assert not (tmp_path / run / "wf" / "results").exists()
        assert not (tmp_path / run / "wf" / "resources").exists()


# ------------------------------------------------- 5. pip: wheels only, no options


def test_fetch_package_refuses_an_option_and_downloads_wheels_only(tmp_path, monkeypatch):
    from llmr.data import resources

    calls = []

    def fake_run(cmd, check):
        calls.append(cmd)
        (Path(cmd[cmd.index("-d") + 1]) / "x-1-py3-none-any.whl").write_bytes(b"PK")

    monkeypatch.setattr(resources.subprocess, "run", fake_run)
    out = tmp_path / "out" / "m.whl"
    for spec in ("--index-url=http://evil/simple", "-r requirements.txt", "x @ file:///etc"):
        with pytest.raises(
            ValueError,
            match=r"package spec .* (would reach pip as an option|"
            r"is not a requirement|direct URL)",
        ):
            resources.fetch_package(spec, str(out))
    assert calls == [] and files_in(out.parent) == []
    resources.fetch_package("x==1", str(out))
    (cmd,) = calls
    assert cmd[cmd.index("--only-binary") + 1] == ":all:" and cmd[-2:] == ["--", "x==1"]


# -------------------------------------------------------- 6. modes of artifacts


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_artifacts_follow_the_umask(umask, tmp_path):
    import torch
    from safetensors.torch import save_file

    secret = tmp_path / "src.bin"
    secret.write_bytes(b"x")
    secret.chmod(0o600)
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "model.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))  # safetensors writes 0600
        with atomic_path(tmp_path / "export" / "encoder") as tmp:
            tmp.mkdir(mode=0o700)
            shutil.copy2(secret, tmp / "model.bin")  # copy2 keeps 0600
    finally:
        os.umask(old)
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask
    assert stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "export" / "encoder").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "export" / "encoder" / "model.bin").stat().st_mode) == file_mode
    assert not [p for p in tmp_path.rglob("*.tmp")]


# ------------------------------------------------------------- 7. export checks


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_encoder, tiny_data):
    from llmr.export.build import export_retriever
    from llmr.retrieval import bm25, index

    root = tmp_path_factory.mktemp("exports")
    out = {}
    for name in ("llmr1", "bm25"):
        idx = root / f"index_{name}"
        if name == "bm25":
            bm25.build_index(
                passages=tiny_data["passages"],
                out_dir=str(idx),
                **stage_defaults(bm25.build_index, "bm25"),
            )
        else:
            index.build_index(
                encoder=tiny_encoder,
                passages=tiny_data["passages"],
                out_dir=str(idx),
                **stage_defaults(index.build_index, "models", "retriever"),
            )
        export_retriever(
            out_dir=str(root / name),
            name=name,
            index=str(idx),
            passages=tiny_data["passages"],
            tasks=tiny_data["tasks"],
            encoder=None if name == "bm25" else tiny_encoder,
            **stage_defaults(export_retriever, "eval", "models") | {"k": 2},
        )
        out[name] = root / name
    return out


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(dst: Path, change) -> None:
    m = json.loads((dst / "manifest.json").read_text())
    change(m)
    (dst / "manifest.json").write_text(json.dumps(m))


def _retrieve_cli(args, capsys) -> tuple[int, str]:
    from llmr.cli import main

    code = main(["retrieve", *args])
    return code, capsys.readouterr().err


EXPORT_CASES = {
    "manifest_prefix_edited": (
        "llmr1",
        ["--verify"],
        lambda d: _edit_manifest(d, lambda m: m.__setitem__("query_prefix", "query: ")),
        r"manifest\.json changed since export",
    ),
    "manifest_max_length_edited": (
        "llmr1",
        ["--verify"],
        lambda d: _edit_manifest(d, lambda m: m.__setitem__("max_length", 4)),
        r"manifest\.json changed since export",
    ),
    "manifest_missing_key": (
        "llmr1",
        [],
        lambda d: _edit_manifest(d, lambda m: m.pop("pooling")),
        r"manifest lacks key\(s\) \['pooling'\]",
    ),
    "manifest_files_climb_out": (
        "bm25",
        [],
        lambda d: _edit_manifest(d, lambda m: m["files"].__setitem__("../outside.txt", "0" * 64)),
        r"files entry '\.\./outside\.txt' points outside the export folder",
    ),
    "manifest_files_absolute": (
        "bm25",
        [],
        lambda d: _edit_manifest(d, lambda m: m["files"].__setitem__("/etc/hostname", "0" * 64)),
        r"files entry '/etc/hostname' points outside",
    ),
    "truncated_faiss_index": (
        "llmr1",
        [],
        lambda d: (d / "index" / "index.faiss").write_bytes(
            (d / "index" / "index.faiss").read_bytes()[:100]
        ),
        r"index\.faiss: unreadable FAISS index, truncated or corrupt",
    ),
    "truncated_safetensors": (
        "llmr1",
        [],
        lambda d: (d / "encoder" / "model.safetensors").write_bytes(
            (d / "encoder" / "model.safetensors").read_bytes()[:200]
        ),
        r"encoder: unreadable encoder, truncated or corrupt",
    ),
}


@pytest.mark.parametrize("case", sorted(EXPORT_CASES))
def test_damaged_export_is_a_one_line_error_with_exit_2(case, exports, tmp_path, capsys):
    name, args, damage, message = EXPORT_CASES[case]
    dst = _copy(exports[name], tmp_path)
    (tmp_path / "outside.txt").write_text("not part of the export")
    damage(dst)
    before = sorted(map(str, files_in(tmp_path)))
    code, err = _retrieve_cli([str(dst), "--query", "a query", *args], capsys)
    assert code == 2, err
    assert err.startswith("llmr retrieve: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert sorted(map(str, files_in(tmp_path))) == before  # nothing written


def test_verify_passes_an_intact_export(exports, capsys):
    from llmr.export.retriever import Retriever

    assert Retriever.load(exports["llmr1"], verify=True).name == "llmr1"


# ------------------------------------------------------------- 8. bad records


def _released_raw(tmp: Path, train=None, test=None, passages=None) -> Path:
    src = tmp / "src"
    src.mkdir()
    pas = (
        [{"id": "p1", "contents": "Which?\na", "task_name": "t"}] if passages is None else passages
    )
    for name, recs in (
        ("train", train or [EX]),
        ("test", test or [{**EX, "query_id": "q9"}]),
        ("passages", pas),
    ):
        with gzip.open(src / f"{name}.jsonl.gz", "wb") as fh:
            for r in recs:
                fh.write((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n")
    return src


RECORD_CASES = {
    "rel_whitespace_query": (
        dict(train=[{**EX, "query": "  \t "}]),
        r"train\.jsonl\.gz: record 1 \(query_id=q1\): 'query' is empty or "
        r"only whitespace",
    ),
    "rel_empty_passage": (
        dict(passages=[{"id": "p1", "contents": "", "task_name": "t"}]),
        r"passages\.jsonl\.gz: record 1 \(id=p1\): empty 'contents'",
    ),
    "rel_list_contents": (
        dict(passages=[{"id": "p1", "contents": ["Which?", "a"], "task_name": "t"}]),
        r"record 1 \(id=p1\): 'contents' must be a string, got list",
    ),
    "rel_nan_answer": (
        dict(
            train=[
                '{"query_id": "q1", "query": "Which?", "answers": [NaN], '
                '"options": [""], "task_name": "t"}'
            ]
        ),
        r"record 1 \(query_id=q1\): 'answers' holds NaN or infinity",
    ),
    "rel_lone_surrogate": (
        dict(
            train=[
                '{"query_id": "q1", "query": "caf\\ud800", '
                '"answers": ["A"], "options": ["a", "b"], '
                '"task_name": "t"}'
            ]
        ),
        r"train\.jsonl\.gz: line 1: a lone surrogate escape \(\\ud800\) is "
        r"not a character",
    ),
    "rel_numeric_task_name": (
        dict(train=[{**EX, "task_name": 7}]),
        r"'task_name' must be a string, got int",
    ),
}


@pytest.mark.parametrize("case", sorted(RECORD_CASES))
def test_released_bad_record(case, tmp_path):
    kw, message = RECORD_CASES[case]
    src, out = _released_raw(tmp_path, **kw), tmp_path / "out"
    with pytest.raises(RecordError, match=message):
        _prepare("released", src, out)
    assert files_in(out) == []


def test_released_jsonl_beside_jsonl_gz_is_ambiguous(tmp_path):
    src, out = _released_raw(tmp_path), tmp_path / "out"
    (src / "train.jsonl").write_text(json.dumps({**EX, "query": "Other?"}) + "\n")
    with pytest.raises(
        FileNotFoundError,
        match=r"both train\.jsonl\.gz and train\.jsonl; "
        r"which one is the data is ambiguous",
    ):
        _prepare("released", src, out)
    assert files_in(out) == []


def test_bigbench_all_zero_target_scores_are_malformed(tmp_path):
    from llmr.data.tasks.bigbench import load_bigbench_tasks

    root = tmp_path / "bb"
    (root / "t").mkdir(parents=True)
    exs = [{"input": f"q{i}", "target_scores": {"a": 0, "b": 0}} for i in range(10)]
    (root / "t" / "task.json").write_text(json.dumps({"examples": exs}))
    with pytest.raises(
        RecordError,
        match=r"too_many_malformed.*example 0: no option of "
        r"'target_scores' has a positive score",
    ):
        load_bigbench_tasks(str(root), ["t"], 0, 0.3, None, None, {}, 0.1)


def test_bigbench_lone_surrogate_names_the_file(tmp_path):
    from llmr.data.tasks.bigbench import read_task_json

    path = tmp_path / "t" / "task.json"
    path.parent.mkdir()
    path.write_text('{"examples": [{"input": "x\\udfff", "target": "y"}]}')
    with pytest.raises(
        RecordError,
        match=r"refused \(unreadable\): .*t/task\.json: a lone "
        r"surrogate escape",
    ):
        read_task_json(path)


CAND = {**EX, "doc_ids": ["p1", "p2"], "doc_scores": [0.5, -1.0]}

GIVEN_CASES = {
    "given_unknown_task": (
        [{**CAND, "task_name": "nope"}],
        r"record 1 \(query_id=q1\): task_name 'nope' is not a task of the "
        r"suite",
    ),
    "given_numeric_task": (
        [{**CAND, "task_name": 3}],
        r"record 1 .*'task_name' must be a non-empty string, got 3",
    ),
    "given_null_query_id": (
        [{**CAND, "query_id": None}],
        r"record 1 \(query_id=None\): 'query_id' must be a non-empty "
        r"string or an integer, got None",
    ),
    "given_null_id_beside_ints": (
        [{**CAND, "query_id": 1}, {**CAND, "query_id": None}],
        r"record 2 \(query_id=None\): 'query_id' must be",
    ),
    "given_duplicate_doc_ids": (
        [{**CAND, "doc_ids": ["p1", "p1"]}],
        r"record 1 .*duplicate doc id\(s\) \['p1'\] in one record",
    ),
    "given_options_dict": (
        [{**CAND, "options": {"A": "a", "B": "b"}}],
        r"record 1 .*'options' must be a list, got dict",
    ),
    "given_bool_score": (
        [{**CAND, "doc_scores": [True, 1.0]}],
        r"doc_scores must be finite numbers, got \[True\]",
    ),
    "given_lone_surrogate": (
        [
            '{"query_id": "q1", "query": "\\ud800", "answers": ["A"], '
            '"options": ["a", "b"], "task_name": "t", "doc_ids": ["p1"], '
            '"doc_scores": [1.0]}'
        ],
        r"given\.jsonl: line 1: a lone surrogate escape",
    ),
}


@pytest.mark.parametrize("case", sorted(GIVEN_CASES))
def test_given_bad_record(case, tmp_path):
    from llmr.data.given import import_candidates

    recs, message = GIVEN_CASES[case]
    pool = tmp_path / "passages.parquet"
    write_parquet(
        pd.DataFrame({"id": ["p1", "p2"], "contents": ["a\nb", "c\nd"], "task_name": ["t", "t"]}),
        pool,
    )
    src = tmp_path / "given.jsonl"
    src.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs))
    out = tmp_path / "out" / "scores.parquet"
    with pytest.raises(RecordError, match=message):
        import_candidates(str(src), str(pool), str(out), kind="scores")
    assert files_in(out.parent) == []


# ------------------------------------------------------------- 9. llmr retrieve


CLI_CASES = {
    "batch_size_zero": (
        ["--query", "x", "--batch-size", "0"],
        "argument --batch-size: must be a positive integer, got 0",
    ),
    "batch_size_negative": (
        ["--query", "x", "--batch-size", "-1"],
        "argument --batch-size: must be a positive integer, got -1",
    ),
    "batch_size_not_a_number": (
        ["--query", "x", "--batch-size", "many"],
        "argument --batch-size: 'many' is not an integer",
    ),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_option(case, exports, capsys):
    from llmr.cli import main

    args, message = CLI_CASES[case]
    with pytest.raises(SystemExit) as err:
        main(["retrieve", str(exports["bm25"]), *args])
    assert err.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("device", ["cuda", "cuda:7", "tpu", "nonsense"])
def test_cli_unusable_device(device, exports, capsys):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    code, err = _retrieve_cli([str(exports["llmr1"]), "--query", "x", "--device", device], capsys)
    assert code == 2 and err.startswith("llmr retrieve: error: ") and "Traceback" not in err
    assert f"{device!r}" in err


def test_cli_bom_and_plain_brace_queries(exports, tmp_path, capsys):
    from llmr.cli import main

    f = tmp_path / "q.txt"
    f.write_bytes(b"\xef\xbb\xbfgood movie\n{not json} but a query\n")
    assert main(["retrieve", str(exports["bm25"]), "--input", str(f), "--k", "1"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["query"] for r in recs] == ["good movie", "{not json} but a query"]
    f.write_bytes(b'{"query": "typo",}\n')
    assert main(["retrieve", str(exports["bm25"]), "--input", str(f)]) == 2
    assert "line 1: malformed JSON" in capsys.readouterr().err
    f.write_bytes(b'{"query": "as text"}\n')
    assert (
        main(
            [
                "retrieve",
                str(exports["bm25"]),
                "--input",
                str(f),
                "--input-format",
                "text",
                "--k",
                "1",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["query"] == '{"query": "as text"}'


def test_cli_separator_query_is_refused_in_prompt_format(exports, capsys, monkeypatch):
    from llmr.cli import main

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"good\n---\n")))
    assert main(["retrieve", str(exports["bm25"]), "--format", "prompt", "--k", "1"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""  # nothing partial on stdout
    assert "query 1: its prompt holds a line '---', the separator of --format prompt" in cap.err
    # one prompt needs no separator, and jsonl carries it unambiguously
    assert main(["retrieve", str(exports["bm25"]), "--query=---", "--format", "prompt"]) == 0
    assert capsys.readouterr().out.endswith("---\n")


def test_api_batch_size_must_be_positive(exports):
    from llmr.export.retriever import Retriever

    r = Retriever.load(exports["bm25"])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=r"batch_size must be a positive integer"):
            r.retrieve(["x"], k=1, batch_size=bad)


# distinct bad inputs in this file (docs/RELIABILITY.md quotes the total)
BAD_INPUTS = {
    "zip-slip": len(ZIP_CASES),
    "names used as paths": len(NAME_CASES),
    "multi-line classification labels": 3,  # released, given, BIG-bench option set
    "contradictory values, given files, package specs": len(CROSS_CASES),
    "config files": len(FILE_CASES),
    "pip specs": 3,
    "file modes": 2,  # safetensors 0600, copy2 of a 0600 file
    "exports": len(EXPORT_CASES),
    "released records": len(RECORD_CASES) + 1,  # + jsonl beside jsonl.gz
    "BIG-bench": 2,  # all-zero target_scores, lone surrogate
    "given records": len(GIVEN_CASES),
    "llmr retrieve": len(CLI_CASES) + 4 + 3 + 2,  # options, devices, BOM/brace/---, API sizes
}


def test_bad_input_count_matches_the_docs():
    assert sum(BAD_INPUTS.values()) == 84
    assert "84 distinct bad inputs" in (ROOT / "docs" / "RELIABILITY.md").read_text()
