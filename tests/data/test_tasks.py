"""Task data: BIG-bench conversion, the released-format reader, bad input."""

from __future__ import annotations

import gzip
import json
import os
import tarfile

import pandas as pd
import pytest

from llmr.cli import main as cli_main
from llmr.core.io import RecordError, read_parquet
from llmr.core.records import (
    TASK_TYPES,
    gold_text,
    letter_index,
    option_letter,
    passage_contents,
    query_hash,
)
from llmr.data.tasks import subsample
from llmr.data.tasks.bigbench import REFUSAL_REASONS, TaskRefused, load_bigbench_tasks
from llmr.data.tasks.check import bigbench_sdist, check_path, summarise

from helpers.tiny import prepare_into


def _write_task(root, name, data):
    (root / name).mkdir(parents=True)
    (root / name / "task.json").write_text(json.dumps(data))


@pytest.fixture
def bb_root(tmp_path):
    root = tmp_path / "bb"
    cls = [
        {"input": f"Is {i} even?", "target_scores": {"yes": int(i % 2 == 0), "no": int(i % 2 == 1)}}
        for i in range(20)
    ]
    mc = [
        {"input": f"Pick {i}", "target_scores": {f"opt{i}": 1, f"x{i}": 0, f"y{i}": 0}}
        for i in range(20)
    ]
    gen = [{"input": f"Say {i}", "target": [str(i), f"#{i}"]} for i in range(20)]
    _write_task(root, "cls", {"name": "cls", "metrics": ["multiple_choice_grade"], "examples": cls})
    _write_task(
        root,
        "mc",
        {
            "name": "mc",
            "metrics": ["multiple_choice_grade"],
            "examples": mc,
            "example_input_prefix": "\nQuestion: ",
        },
    )
    _write_task(root, "gen", {"name": "gen", "metrics": ["exact_str_match"], "examples": gen})
    _write_task(root, "rg", {"name": "rg", "metrics": ["rouge"], "examples": gen})
    return root


def test_bigbench_types_metrics_and_prefixes(bb_root):
    train, test, passages, meta = load_bigbench_tasks(
        str(bb_root),
        ["cls", "mc", "gen", "rg"],
        seed=1,
        test_fraction=0.25,
        max_train=None,
        max_test=None,
        task_types={},
    )
    assert meta["cls"] == {
        "task_type": "classification",
        "labels": ["yes", "no"],
        "metric": "accuracy",
    }
    assert meta["mc"]["task_type"] == "multiple_choice"
    assert meta["gen"]["metric"] == "exact_match" and meta["rg"]["metric"] == "rouge"
    mc = train[train.task_name == "mc"].iloc[0]
    assert mc.query.startswith("Question: Pick")
    assert gold_text(mc.answers, mc.options).startswith("opt")  # letter → gold option text
    assert mc.answers[0] == "A"
    assert len(test[test.task_name == "cls"]) == 5 and len(train[train.task_name == "cls"]) == 15
    row = passages.iloc[0]
    ex = train.iloc[0]
    assert row.contents == passage_contents(ex.query, gold_text(ex.answers, ex.options))


def test_bigbench_split_is_deterministic_and_seeded(bb_root):
    a = load_bigbench_tasks(str(bb_root), ["gen"], 1, 0.25, None, None, {})[1]
    b = load_bigbench_tasks(str(bb_root), ["gen"], 1, 0.25, None, None, {})[1]
    c = load_bigbench_tasks(str(bb_root), ["gen"], 2, 0.25, None, None, {})[1]
    assert a.query_id.tolist() == b.query_id.tolist() != c.query_id.tolist()


def test_unknown_bigbench_task(bb_root):
    with pytest.raises(ValueError, match="unknown BIG-bench task name.*nope"):
        load_bigbench_tasks(str(bb_root), ["cls", "nope"], 1, 0.25, None, None, {})


def test_prepare_released_tiny(tiny_data):
    tasks = read_parquet(tiny_data["tasks"])
    assert dict(zip(tasks.task_name, tasks.task_type, strict=True)) == {
        "cls_sent": "classification",
        "mc_pick": "multiple_choice",
        "gen_echo": "generation",
    }
    assert tasks.set_index("task_name").loc["gen_echo", "held_out"]
    train = read_parquet(tiny_data["train"])
    assert isinstance(train.answers.iloc[0], list)


def _write_jsonl_gz(path, records, raw_lines=()):
    with gzip.open(path, "wt") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
        for line in raw_lines:
            fh.write(line + "\n")


def _prepare(src, out, tasks=("t",)):
    prepare_into("released", src, out, tasks)


GOOD = {"query_id": "q1", "query": "x?", "answers": ["A"], "options": ["a", "b"], "task_name": "t"}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"raw": "{not json"}, r"train.jsonl.gz: line 2: malformed JSON"),
        (
            {"query_id": "q9", "answers": ["A"], "options": [""], "task_name": "t"},
            r"record 2 \(query_id=q9\): missing field\(s\) query",
        ),
        ({**GOOD, "query_id": "q7", "answers": ["E"]}, r"q7.*'E' is not one of the 2"),
    ],
)
def test_released_bad_records_name_file_and_record(tmp_path, bad, message):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    raw = [bad["raw"]] if "raw" in bad else []
    recs = [GOOD] + ([] if raw else [bad])
    _write_jsonl_gz(src / "train.jsonl.gz", recs, raw)
    _write_jsonl_gz(src / "test.jsonl.gz", [GOOD])
    _write_jsonl_gz(src / "passages.jsonl.gz", [{"id": "p", "contents": "x?\na", "task_name": "t"}])
    with pytest.raises(RecordError, match=message):
        _prepare(src, out)
    assert not out.exists() or not any(out.iterdir())  # no partial output


def test_released_unknown_task(tiny_suite_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown task name.*nope"):
        _prepare(tiny_suite_dir, tmp_path, tasks=("cls_sent", "nope"))


def test_subsample_drops_held_out_and_caps(tiny_data, tmp_path):
    out = tmp_path / "q.parquet"
    subsample(
        tiny_data["train"], tiny_data["tasks"], str(out), max_per_task=5, seed=0, drop_held_out=True
    )
    df = pd.read_parquet(out)
    assert set(df.task_name) == {"cls_sent", "mc_pick"}
    assert df.groupby("task_name").size().tolist() == [5, 5]


def test_query_hash_matches_own_passage(tiny_data):
    train = read_parquet(tiny_data["train"])
    passages = read_parquet(tiny_data["passages"])
    from llmr.core.records import content_hash

    hashes = set(map(content_hash, passages.contents))
    assert all(query_hash(r.query, r.answers, r.options) in hashes for r in train.itertuples())


# --------------------------------------------------------------- any BIG-bench task (issue 14)


def _convert(root, names, **kw):
    return load_bigbench_tasks(
        str(root),
        names,
        seed=1,
        test_fraction=0.25,
        max_train=None,
        max_test=None,
        task_types=kw.pop("task_types", {}),
        **kw,
    )


def test_many_options_use_letters_past_z(tmp_path):
    ex = [
        {"input": f"q{i}", "target_scores": {f"o{j}": int(j == 27 + i % 3) for j in range(34)}}
        for i in range(12)
    ]
    _write_task(tmp_path, "many", {"metrics": ["multiple_choice_grade"], "examples": ex})
    train, test, passages, meta = _convert(tmp_path, ["many"])
    assert meta["many"]["task_type"] == "multiple_choice"
    rows = pd.concat([train, test])
    assert set(a[0] for a in rows.answers) <= {"AB", "AC", "AD"}
    for r in rows.itertuples():
        assert gold_text(r.answers, r.options) == f"o{27 + int(r.query[1:]) % 3}"


def test_many_options_with_target_fall_back_to_generation(tmp_path):
    ex = [
        {
            "input": f"q{i}",
            "target": f"o{i % 30}",
            "target_scores": {f"o{j}": int(j == i % 30) for j in range(30)},
        }
        for i in range(12)
    ]
    _write_task(
        tmp_path, "chess", {"metrics": ["exact_str_match", "multiple_choice_grade"], "examples": ex}
    )
    train, _, _, meta = _convert(tmp_path, ["chess"])
    assert meta["chess"] == {"task_type": "generation", "labels": [], "metric": "exact_match"}
    assert all(
        r.options == [] and r.answers == [f"o{int(r.query[1:]) % 30}"] for r in train.itertuples()
    )


def _parent_with_subtasks(root):
    (root / "par").mkdir(parents=True)
    (root / "par" / "task.json").write_text(json.dumps({"name": "par", "metrics": ["rouge"]}))
    for sub in ("s1", "s2"):
        ex = [{"input": f"{sub} {i}", "target": f"{sub}-{i}"} for i in range(6)]
        _write_task(root / "par", sub, {"metrics": ["exact_str_match"], "examples": ex})


def test_task_with_subtasks_by_its_name_and_by_subtask(tmp_path):
    _parent_with_subtasks(tmp_path)
    train, test, _, meta = _convert(tmp_path, ["par"])
    rows = pd.concat([train, test])
    assert len(rows) == 12 and set(rows.task_name) == {"par"}
    assert {q.rsplit("-", 1)[0] for q in rows.query_id} == {"par/s1", "par/s2"}
    assert meta["par"]["task_type"] == "generation"
    train, test, _, meta = _convert(tmp_path, ["par/s2"])
    rows = pd.concat([train, test])
    assert len(rows) == 6 and set(rows.task_name) == {"par/s2"}
    assert meta["par/s2"]["metric"] == "exact_match"


def test_malformed_examples_skipped_then_refused_over_threshold(tmp_path, caplog):
    ex = [{"input": f"q{i}", "target": f"a{i}"} for i in range(20)]
    ex[3] = {"input": "", "target": "x"}
    ex[7] = {"input": 5, "target": "x"}
    _write_task(tmp_path, "t", {"metrics": ["exact_str_match"], "examples": ex})
    with caplog.at_level("INFO", logger="llmr.data.tasks.bigbench"):
        train, test, _, _ = _convert(tmp_path, ["t"], max_malformed_fraction=0.1)
    assert len(train) + len(test) == 18
    assert "skipped 2 of 20 malformed examples" in caplog.text
    assert "example 7: 'input' is a int, not a string" in caplog.text
    with pytest.raises(TaskRefused, match=r"too_many_malformed.*2 of 20.*example 3: empty input"):
        _convert(tmp_path, ["t"], max_malformed_fraction=0.05)


def test_all_empty_inputs_take_the_question_from_the_choices(tmp_path):
    ex = [{"input": "", "target_scores": {f"cause {i}": 1, f"effect {i}": 0}} for i in range(8)]
    _write_task(
        tmp_path,
        "ce",
        {
            "task_prefix": "Which makes more sense?",
            "examples": ex,
            "metrics": ["multiple_choice_grade"],
        },
    )
    train, _, _, meta = _convert(tmp_path, ["ce"])
    assert meta["ce"]["task_type"] == "multiple_choice"
    q = train.iloc[0].query
    assert q.startswith("Which makes more sense?\nchoice: cause ") and "\nchoice: effect" in q


@pytest.mark.parametrize(
    "data, reason",
    [
        ({"examples": []}, "no_examples"),
        ({"examples": [{"input": "a"}, {"input": "b"}]}, "no_answer_fields"),
        ({"examples": [{"input": "a", "target": "b"}]}, "too_few_examples"),
    ],
)
def test_refusal_reasons(tmp_path, data, reason):
    _write_task(tmp_path, "t", data)
    with pytest.raises(TaskRefused) as err:
        _convert(tmp_path, ["t"])
    assert err.value.reason == reason and reason in REFUSAL_REASONS


def test_option_letters_round_trip():
    letters = [option_letter(i) for i in range(800)]
    assert letters[:3] == ["A", "B", "C"] and letters[25:28] == ["Z", "AA", "AB"]
    assert letters[701:703] == ["ZZ", "AAA"]
    assert len(set(letters)) == 800
    assert all(letter_index(s, 800) == i for i, s in enumerate(letters))
    with pytest.raises(ValueError, match="'AB' is not one of the 27 option letters"):
        letter_index("AB", 27)
    with pytest.raises(ValueError):
        letter_index("a", 3)


def test_tasks_check_command_lists_every_task(tmp_path, capsys):
    root = tmp_path / "bb"
    _parent_with_subtasks(root)
    _write_task(root, "ok", {"examples": [{"input": f"q{i}", "target": "a"} for i in range(4)]})
    _write_task(root, "bad", {"examples": [{"input": "q"}]})
    (root / "broken").mkdir()
    (root / "broken" / "task.json").write_bytes(b'{"examples": [\xff')
    tar_path = tmp_path / "bigbench-1.0.0.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(root, arcname="bigbench-1.0.0/bigbench/benchmark_tasks")
    out = tmp_path / "check.json"
    for path in (root, tar_path):
        assert cli_main(["tasks", "check", str(path), "--json", str(out)]) == 0
        rows = {r["task"]: r for r in json.loads(out.read_text())["tasks"]}
        assert set(rows) == {"par", "par/s1", "par/s2", "ok", "bad", "broken"}
        assert rows["par"]["n_usable"] == 12 and rows["par"]["n_subtasks"] == 2
        assert rows["bad"]["reason"] == "no_answer_fields"
        assert rows["broken"]["reason"] == "unreadable" and "not UTF-8" in rows["broken"]["detail"]
        assert rows["ok"]["task_type"] == "generation"
    printed = capsys.readouterr().out
    assert "REFUSED (unreadable)" in printed and "tasks: 2 of 4 convert" in printed


@pytest.mark.slow
def test_every_task_in_the_bigbench_sdist_converts_or_is_refused_for_a_reason(tmp_path):
    """The pinned sdist where the pipeline puts it (fetched from PyPI when absent)."""
    sdist = bigbench_sdist()
    with tarfile.open(sdist, "r:gz") as tar:
        files = [
            m.name.split("benchmark_tasks/", 1)[1]
            for m in tar
            if "/benchmark_tasks/" in m.name and m.name.endswith("/task.json")
        ]
    rows = check_path(sdist, jobs=min(4, os.cpu_count() or 1))
    assert len(rows) == len(files)
    for r in rows:
        assert r["status"] == "ok" or r["reason"] in REFUSAL_REASONS, r
        if r["status"] == "ok":
            assert r["n_usable"] >= 2 and r["task_type"] in TASK_TYPES
    by_name = {r["task"]: r for r in rows}
    colored = by_name["reasoning_about_colored_objects"]  # 34 options in one example
    assert colored["status"] == "ok" and colored["task_type"] == "multiple_choice"
    summary = summarise(rows)
    assert summary["tasks"]["total"] == sum(f.count("/") == 1 for f in files)


def test_extract_bigbench_keeps_subtasks(tmp_path):
    from llmr.data.resources import extract_bigbench

    root = tmp_path / "bb"
    _parent_with_subtasks(root)
    _write_task(root, "other", {"examples": _gen_examples(3)})
    sdist = tmp_path / "bigbench.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(root, arcname="bigbench-1.0.0/bigbench/benchmark_tasks")
    out = tmp_path / "out"
    extract_bigbench(str(sdist), ["par", "other"], str(out))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("task.json")) == [
        "other/task.json",
        "par/s1/task.json",
        "par/s2/task.json",
        "par/task.json",
    ]
    out2 = tmp_path / "out2"
    extract_bigbench(str(sdist), ["par/s1"], str(out2))
    train, test, _, _ = _convert(out2, ["par/s1"])
    assert len(train) + len(test) == 6
    with pytest.raises(ValueError, match=r"unknown BIG-bench task name\(s\) \['par/zz'\]"):
        extract_bigbench(str(sdist), ["par/zz"], str(tmp_path / "out3"))


def _gen_examples(n):
    return [{"input": f"q{i}", "target": f"a{i}"} for i in range(n)]
