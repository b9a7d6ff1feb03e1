"""Fault injection: each bad input stops its entry point with a message that names the file,
the record and the fix, and leaves no output file (nor temporary file) behind.

Entry points: BIG-bench JSON and released files (``llmr.data.tasks.prepare``), given candidate /
score / teacher files (``llmr.data.given.import_candidates``), Parquet artifacts read by a later
stage, the config (the schema the Snakefile validates against), model folders, and a disk
that fills up while an artifact is written.
"""

from __future__ import annotations

import copy
import errno
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llmr.core.io import RecordError, read_parquet, write_parquet

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
    """Every file under ``folder`` (temporary ones included)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ------------------------------------------------------------------------ task sources


def _prepare(source: str, src: Path, out: Path, tasks=("t",)) -> None:
    prepare_into(source, src, out, tasks)


def _bb(tmp: Path, raw: bytes | None = None, data: dict | None = None, name: str = "t") -> Path:
    root = tmp / "bb"
    (root / name).mkdir(parents=True)
    (root / name / "task.json").write_bytes(raw if raw is not None else json.dumps(data).encode())
    return root


def _gen(n: int) -> list[dict]:
    return [{"input": f"question {i}", "target": f"answer {i}"} for i in range(n)]


BIGBENCH_CASES = {
    "bb_malformed_json": (
        dict(raw=b'{"examples": [{"input": "a",}'),
        r"t/task\.json: malformed JSON \(.* at line 1\)",
    ),
    "bb_non_utf8": (
        dict(raw=b'{"examples": [{"input": "caf\xe9", "target": "x"}]}'),
        r"t/task\.json: not UTF-8 \(byte \d+\)",
    ),
    "bb_wrong_field_types": (
        dict(data={"examples": [{"input": i, "target": "x"} for i in range(10)]}),
        r"too_many_malformed.*10 of 10.*example 0: 'input' is a int, "
        r"not a string",
    ),
    "bb_empty_answers": (
        dict(data={"examples": [{"input": f"q{i}", "target": ""} for i in range(5)]}),
        r"too_many_malformed.*example 0: empty answer",
    ),
    "bb_no_examples": (dict(data={"name": "t", "examples": []}), r"no_examples.*no 'examples'"),
    "bb_no_answer_fields": (
        dict(data={"examples": [{"input": "a"}, {"input": "b"}]}),
        r"no_answer_fields.*has a 'target' or 'target_scores'",
    ),
    "bb_empty_test_split": (
        dict(data={"examples": _gen(1)}),
        r"too_few_examples.*1 usable example",
    ),
}


@pytest.mark.parametrize("case", sorted(BIGBENCH_CASES))
def test_bigbench_bad_task(case, tmp_path):
    kw, message = BIGBENCH_CASES[case]
    src, out = _bb(tmp_path, **kw), tmp_path / "out"
    with pytest.raises(RecordError, match=message):
        _prepare("bigbench", src, out)
    assert files_in(out) == []


def test_bigbench_unknown_task(tmp_path):
    src, out = _bb(tmp_path, data={"examples": _gen(4)}), tmp_path / "out"
    with pytest.raises(
        ValueError,
        match=r"unknown BIG-bench task name\(s\) \['nope'\].*"
        r"llmr tasks check",
    ):
        _prepare("bigbench", src, out, tasks=("t", "nope"))
    assert files_in(out) == []


def _released(tmp: Path, train=None, test=None, passages=None, raw_train: bytes | None = None):
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
            if name == "train" and raw_train is not None:
                fh.write(raw_train)
            else:
                fh.write(b"".join(json.dumps(r).encode() + b"\n" for r in recs))
    return src


RELEASED_CASES = {
    "rel_malformed_json_line": (
        dict(raw_train=json.dumps(EX).encode() + b"\n{oops\n"),
        r"train\.jsonl\.gz: line 2: malformed JSON",
    ),
    "rel_non_utf8": (
        dict(raw_train=json.dumps(EX).encode() + b'\n{"query": "\xff"}\n'),
        r"train\.jsonl\.gz: line 2: not UTF-8.*re-encode",
    ),
    "rel_truncated_last_line": (
        dict(raw_train=json.dumps(EX).encode() + b'\n{"query_id": "q2'),
        r"line 2: malformed JSON .*last line is cut off",
    ),
    "rel_missing_field": (
        dict(train=[{k: v for k, v in EX.items() if k != "query"}]),
        r"train\.jsonl\.gz: record 1 \(query_id=q1\): missing field\(s\) query",
    ),
    "rel_wrong_field_type": (
        dict(train=[{**EX, "query": {"text": "x"}}]),
        r"record 1 \(query_id=q1\): 'query' must be a string, got dict",
    ),
    "rel_empty_answers": (dict(train=[{**EX, "answers": []}]), r"record 1 .*: empty answers"),
    "rel_letter_outside_options": (
        dict(train=[{**EX, "answers": ["C"]}]),
        r"record 1 \(query_id=q1\): answer 'C' is not one of the 2 "
        r"option letters \(A\.\.B\)",
    ),
    "rel_duplicate_ids": (
        dict(train=[EX, {**EX, "query": "Other?"}]),
        r"duplicate query_id\(s\) \['q1'\] in the train split",
    ),
    "rel_duplicate_passage_ids": (
        dict(passages=[{"id": "p1", "contents": "x\na", "task_name": "t"}] * 2),
        r"duplicate passage id\(s\) \['p1'\]",
    ),
    "rel_empty_pool": (
        dict(passages=[{"id": "p1", "contents": "x\na", "task_name": "other"}]),
        r"src: the suite has 1 test examples and 0 pool passages",
    ),
    "rel_empty_test_split": (
        dict(test=[{**EX, "query_id": "q9", "task_name": "other"}]),
        r"src: the suite has 0 test examples and 1 pool passages",
    ),
}


@pytest.mark.parametrize("case", sorted(RELEASED_CASES))
def test_released_bad_file(case, tmp_path):
    kw, message = RELEASED_CASES[case]
    src, out = _released(tmp_path, **kw), tmp_path / "out"
    with pytest.raises((RecordError, ValueError), match=message):
        _prepare("released", src, out)
    assert files_in(out) == []


def test_released_truncated_gzip(tmp_path):
    src = _released(tmp_path, train=[{**EX, "query_id": f"q{i}"} for i in range(200)])
    data = (src / "train.jsonl.gz").read_bytes()
    (src / "train.jsonl.gz").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    with pytest.raises(
        RecordError,
        match=r"train\.jsonl\.gz: truncated or corrupt gzip after "
        r"line \d+",
    ):
        _prepare("released", src, out)
    assert files_in(out) == []


def test_released_missing_file_and_unknown_task(tmp_path):
    src, out = _released(tmp_path), tmp_path / "out"
    with pytest.raises(ValueError, match=r"unknown task name\(s\) \['nope'\]"):
        _prepare("released", src, out, tasks=("t", "nope"))
    (src / "test.jsonl.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"no test\.jsonl\.gz or test\.jsonl"):
        _prepare("released", src, out)
    assert files_in(out) == []


# ------------------------------------------------------------ given candidates / scores


CAND = {**EX, "doc_ids": ["p1", "p2"], "doc_scores": [0.5, -1.0]}

GIVEN_CASES = {
    "given_unknown_doc_id": (
        [{**CAND, "doc_ids": ["p1", "zz"]}],
        r"record 1 \(query_id=q1\): doc id\(s\) not in the passage pool: "
        r"\['zz'\]",
    ),
    "given_parallel_lists": (
        [{**CAND, "doc_scores": [1.0]}],
        r"record 1 .*doc_ids \(2\) and doc_scores \(1\) differ in length",
    ),
    "given_missing_field": (
        [{k: v for k, v in CAND.items() if k != "doc_scores"}],
        r"lacks field\(s\) \['doc_scores'\]",
    ),
    "given_score_not_number": (
        [{**CAND, "doc_scores": ["high", 1]}],
        r"record 1 .*doc_scores must be finite numbers, got \['high'\]",
    ),
    "given_nan_score": (
        [{**CAND, "doc_scores": [float("nan"), 1.0]}],
        r"doc_scores must be finite numbers, got \[nan\]",
    ),
    "given_duplicate_query": (
        [CAND, CAND],
        r"record 2 \(query_id=q1\): duplicate query_id "
        r"\(also record 1\)",
    ),
    "given_doc_ids_not_list": ([{**CAND, "doc_ids": "p1"}], r"'doc_ids' must be a list, got str"),
    "given_letter_outside_options": (
        [{**CAND, "answers": ["Z"]}],
        r"record 1 .*answer 'Z' is not one of the 2 option letters",
    ),
    "given_empty_file": ([], r"the scores file has no records"),
}


@pytest.mark.parametrize("case", sorted(GIVEN_CASES))
def test_given_file_rejected(case, tmp_path):
    from llmr.data.given import import_candidates

    recs, message = GIVEN_CASES[case]
    pool = tmp_path / "passages.parquet"
    write_parquet(
        pd.DataFrame({"id": ["p1", "p2"], "contents": ["a\nb", "c\nd"], "task_name": ["t", "t"]}),
        pool,
    )
    src = tmp_path / "given.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "out" / "scores.parquet"
    with pytest.raises(RecordError, match=message):
        import_candidates(str(src), str(pool), str(out), kind="scores")
    assert files_in(out.parent) == []


# ------------------------------------------------------------------- Parquet artifacts


def test_truncated_parquet_is_rejected_by_a_later_stage(tiny_data, tmp_path):
    from llmr.data.tasks import subsample

    data = Path(tiny_data["train"]).read_bytes()
    bad = tmp_path / "train.parquet"
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out" / "q.parquet"
    with pytest.raises(
        RecordError,
        match=r"train\.parquet: not a readable Parquet file, "
        r"truncated or corrupt.*delete it and rerun",
    ):
        subsample(str(bad), tiny_data["tasks"], str(out), max_per_task=3, seed=0)
    assert files_in(out.parent) == []


def test_missing_parquet_column(tiny_data):
    with pytest.raises(RecordError, match=r"missing column\(s\) \['nope'\]"):
        read_parquet(tiny_data["train"], columns=["query", "nope"])


# ------------------------------------------------------------------------------ disk full


def test_disk_full_while_writing_leaves_nothing(tiny_suite_dir, tmp_path, monkeypatch):
    """A write hook: the third Parquet file written runs out of space half-way."""
    real = pd.DataFrame.to_parquet
    calls = []

    def filling(self, path, *a, **k):
        calls.append(path)
        if len(calls) == 3:
            Path(path).write_bytes(b"PAR1" + b"\0" * 100)  # a partial file, then the error
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", filling)
    out = tmp_path / "out"
    with pytest.raises(
        OSError,
        match=r"passages\.parquet: no space left on device while "
        r"writing it",
    ) as err:
        _prepare("released", tiny_suite_dir, out, tasks=("cls_sent", "mc_pick"))
    assert err.value.errno == errno.ENOSPC
    # the two tables written before are complete; the third left no partial or temporary file
    assert [p.name for p in files_in(out)] == ["test.parquet", "train.parquet"]
    assert all(len(read_parquet(p)) for p in files_in(out))


# ------------------------------------------------------------------------------ config


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _validate(cfg):
    from snakemake.utils import validate

    validate(cfg, schema=str(ROOT / "schemas" / "config.schema.yaml"))


CONFIG_CASES = {
    "misspelt_key": (
        lambda c: c["suite"].__setitem__("held_uot", []),
        r"Additional properties are not allowed \('held_uot' was unexpected\)",
    ),
    "negative_k": (
        lambda c: c["eval"].__setitem__("k", -8),
        r"-8 is less than the minimum of 1.*instance\['eval'\]\['k'\]",
    ),
    "late_stage_wrong_type": (
        lambda c: c["eval"].__setitem__("max_new_tokens", "64"),
        r"'64' is not of type 'integer'.*instance\['eval'\]"
        r"\['max_new_tokens'\]",
    ),
    "malformed_fraction_out_of_range": (
        lambda c: c["suite"].__setitem__("max_malformed_fraction", 2),
        r"2 is greater than the maximum of 1",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_rejected_before_any_job(case, config):
    """The Snakefile validates the config against this schema before any job is planned."""
    from snakemake.exceptions import WorkflowError

    mutate, message = CONFIG_CASES[case]
    cfg = copy.deepcopy(config)
    _validate(copy.deepcopy(cfg))  # the default config passes
    mutate(cfg)
    with pytest.raises(WorkflowError, match=f"(?s){message}"):
        _validate(cfg)


# ------------------------------------------------------------------------ model folders


def test_missing_model_folders(tmp_path):
    from llmr.models.encoder import load_encoder
    from llmr.models.lm import load_causal_lm

    missing = tmp_path / "models" / "nope"
    with pytest.raises(FileNotFoundError, match=r"causal LM not found: .*models/nope"):
        load_causal_lm(str(missing))
    with pytest.raises(FileNotFoundError, match=r"encoder not found"):
        load_encoder("./no-such-encoder")


def test_gguf_without_its_reader_package(tmp_path, monkeypatch):
    import importlib.util
    import zipfile

    from llmr.data import resources

    wheel = tmp_path / "m.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/model.gguf", b"GGUF")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    out = tmp_path / "out" / "model"
    with pytest.raises(
        ImportError,
        match=r"reading the GGUF model model\.gguf needs the Python "
        r"package 'gguf'.*pip install gguf",
    ):
        resources.convert_gguf(str(wheel), "model.gguf", str(out))
    assert files_in(out.parent) == []
