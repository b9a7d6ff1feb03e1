"""Task data: BIG-bench conversion, the released-format reader, bad input."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from llmr.io import RecordError, read_parquet
from llmr.records import gold_text, passage_contents, query_hash
from llmr.tasks import prepare, subsample
from llmr.tasks.bigbench import load_bigbench_tasks


def _write_task(root, name, data):
    (root / name).mkdir(parents=True)
    (root / name / "task.json").write_text(json.dumps(data))


@pytest.fixture
def bb_root(tmp_path):
    root = tmp_path / "bb"
    cls = [{"input": f"Is {i} even?", "target_scores": {"yes": int(i % 2 == 0),
                                                        "no": int(i % 2 == 1)}}
           for i in range(20)]
    mc = [{"input": f"Pick {i}", "target_scores": {f"opt{i}": 1, f"x{i}": 0, f"y{i}": 0}}
          for i in range(20)]
    gen = [{"input": f"Say {i}", "target": [str(i), f"#{i}"]} for i in range(20)]
    _write_task(root, "cls", {"name": "cls", "metrics": ["multiple_choice_grade"],
                              "examples": cls})
    _write_task(root, "mc", {"name": "mc", "metrics": ["multiple_choice_grade"], "examples": mc,
                             "example_input_prefix": "\nQuestion: "})
    _write_task(root, "gen", {"name": "gen", "metrics": ["exact_str_match"], "examples": gen})
    _write_task(root, "rg", {"name": "rg", "metrics": ["rouge"], "examples": gen})
    return root


def test_bigbench_types_metrics_and_prefixes(bb_root):
    train, test, passages, meta = load_bigbench_tasks(str(bb_root), ["cls", "mc", "gen", "rg"],
                                                      seed=1, test_fraction=0.25, max_train=None,
                                                      max_test=None, task_types={})
    assert meta["cls"] == {"task_type": "classification", "labels": ["yes", "no"],
                           "metric": "accuracy"}
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
        "cls_sent": "classification", "mc_pick": "multiple_choice", "gen_echo": "generation"}
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
    prepare(source="released", source_dir=str(src), tasks=list(tasks), held_out=[], seed=0,
            max_train_per_task=None, max_test_per_task=None, test_fraction=0.3, task_types={},
            out_train=str(out / "train.parquet"), out_test=str(out / "test.parquet"),
            out_passages=str(out / "passages.parquet"), out_tasks=str(out / "tasks.parquet"))


GOOD = {"query_id": "q1", "query": "x?", "answers": ["A"], "options": ["a", "b"],
        "task_name": "t"}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"raw": "{not json"}, r"train.jsonl.gz: line 2: malformed JSON"),
        ({"query_id": "q9", "answers": ["A"], "options": [""], "task_name": "t"},
         r"record 2 \(query_id=q9\): missing field\(s\) query"),
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
    _write_jsonl_gz(src / "passages.jsonl.gz", [{"id": "p", "contents": "x?\na",
                                                 "task_name": "t"}])
    with pytest.raises(RecordError, match=message):
        _prepare(src, out)
    assert not out.exists() or not any(out.iterdir())  # no partial output


def test_released_unknown_task(tiny_suite_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown task name.*nope"):
        _prepare(tiny_suite_dir, tmp_path, tasks=("cls_sent", "nope"))


def test_subsample_drops_held_out_and_caps(tiny_data, tmp_path):
    out = tmp_path / "q.parquet"
    subsample(tiny_data["train"], tiny_data["tasks"], str(out), max_per_task=5, seed=0,
              drop_held_out=True)
    df = pd.read_parquet(out)
    assert set(df.task_name) == {"cls_sent", "mc_pick"}
    assert df.groupby("task_name").size().tolist() == [5, 5]


def test_query_hash_matches_own_passage(tiny_data):
    train = read_parquet(tiny_data["train"])
    passages = read_parquet(tiny_data["passages"])
    from llmr.records import content_hash

    hashes = set(map(content_hash, passages.contents))
    assert all(query_hash(r.query, r.answers, r.options) in hashes for r in train.itertuples())
