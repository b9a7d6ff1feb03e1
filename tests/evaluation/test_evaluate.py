"""evaluate() end to end on the tiny random LM, including malformed-input cases."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from llmr.core.io import read_json, read_parquet
from llmr.core.schema import stage_defaults
from llmr.evaluation.evaluate import PREDICTION_COLUMNS, evaluate
from llmr.evaluation.prompts import build_prompts


@pytest.fixture()
def small(tiny_data, tmp_path):
    """2 test queries per task, an extra single-option MC query, an empty task."""
    test = read_parquet(tiny_data["test"]).groupby("task_name").head(2)
    single = pd.DataFrame(
        [
            {
                "query_id": "mc_single",
                "query": "Which is the stone?",
                "answers": ["A"],
                "options": ["stone"],
                "task_name": "mc_pick",
            }
        ]
    )
    test = pd.concat([test, single], ignore_index=True)
    tasks = read_parquet(tiny_data["tasks"])
    empty = tasks.iloc[[0]].assign(task_name="empty_task", n_test=0)
    tasks = pd.concat([tasks, empty], ignore_index=True)
    paths = dict(tiny_data, test=str(tmp_path / "test.parquet"), tasks=str(tmp_path / "t.parquet"))
    test.to_parquet(paths["test"], index=False)
    tasks.to_parquet(paths["tasks"], index=False)
    paths["prompts"] = str(tmp_path / "prompts.parquet")
    build_prompts(
        paths["test"],
        paths["passages"],
        paths["tasks"],
        paths["prompts"],
        method="random",
        **stage_defaults(build_prompts, "eval", "models") | {"k": 2},
    )
    return paths


def _run(paths, tmp_path, tiny_lm, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    pred, met = str(tmp_path / "pred.parquet"), str(tmp_path / "metrics.json")
    evaluate(
        paths["prompts"],
        paths["test"],
        paths["tasks"],
        tiny_lm,
        pred,
        met,
        retriever="random",
        variant="task_filter",
        **stage_defaults(evaluate, "eval", "precision") | kw,
    )
    return read_parquet(pred), read_json(met)


def test_evaluate_end_to_end(small, tmp_path, tiny_lm, caplog):
    with caplog.at_level(logging.WARNING):
        pred, met = _run(small, tmp_path, tiny_lm, max_new_tokens=8, max_length=256)
    assert list(pred.columns) == list(PREDICTION_COLUMNS)
    assert len(pred) == 7
    cls = pred[pred["task_name"] == "cls_sent"]
    assert set(cls["prediction"]) <= {"good", "bad"}
    mc = pred[pred["task_name"] == "mc_pick"].set_index("query_id")
    options = read_parquet(small["test"]).set_index("query_id")["options"]
    for qid, row in mc.iterrows():
        idx = "ABC".index(row["prediction"])
        assert idx < len(row["option_scores"]) == len(options[qid])
        assert row["option_text"] == options[qid][idx]
    assert mc.loc["mc_single", "prediction"] == "A" and mc.loc["mc_single", "score"] == 1.0
    gen = pred[pred["task_name"] == "gen_echo"]
    assert gen["prediction"].map(lambda s: "\n" not in s).all()
    assert gen["token_f1"].notna().all() and gen["accuracy"].isna().all()
    assert pred["score"].between(0, 1).all()

    assert met["retriever"] == "random" and met["variant"] == "task_filter"
    t = met["tasks"]
    assert set(t) == {"cls_sent", "mc_pick", "gen_echo", "empty_task"}
    for key in ("metric", "value", "n", "task_type", "held_out", "demo_label_match"):
        assert key in t["cls_sent"]
    assert t["cls_sent"]["metric"] == "accuracy" and t["cls_sent"]["n"] == 2
    assert t["gen_echo"]["metric"] == "exact_match" and "token_f1" in t["gen_echo"]
    assert t["gen_echo"]["held_out"] is True
    assert 0 <= t["mc_pick"]["value"] <= 100 and t["mc_pick"]["n"] == 3
    assert t["empty_task"] == {**t["empty_task"], "n": 0, "value": None}
    assert "empty_task" in caplog.text
    assert set(met["means"]) == {"mean_held_in", "mean_held_out", "mean_all"}
    acc = 100 * cls["score"].mean()
    assert t["cls_sent"]["value"] == pytest.approx(acc)


def test_labels_with_spaces_and_long_prompts(small, tmp_path, tiny_lm):
    tasks = read_parquet(small["tasks"])
    tasks["labels"] = [
        [" good", "very bad indeed"] if n == "cls_sent" else lab
        for n, lab in zip(tasks["task_name"], tasks["labels"], strict=True)
    ]
    tasks.to_parquet(small["tasks"], index=False)
    prompts = read_parquet(small["prompts"])
    prompts["prompt"] = [("filler words " * 200) + p for p in prompts["prompt"]]
    prompts.to_parquet(small["prompts"], index=False)
    pred, met = _run(small, tmp_path, tiny_lm, max_new_tokens=3, max_length=48)
    cls = pred[pred["task_name"] == "cls_sent"]
    assert set(cls["prediction"]) <= {"good", "very bad indeed"}
    gen = pred[pred["task_name"] == "gen_echo"]
    assert gen["output"].map(len).max() <= 3 * 40  # at most 3 new tokens
    assert met["tasks"]["gen_echo"]["n"] == 2


def test_unknown_query_rejected(small, tmp_path, tiny_lm):
    prompts = read_parquet(small["prompts"])
    prompts.loc[0, "query_id"] = "nope"
    prompts.to_parquet(small["prompts"], index=False)
    with pytest.raises(ValueError, match="not in"):
        _run(small, tmp_path, tiny_lm)


def test_resume_after_kill_matches_uninterrupted_run(small, tmp_path, tiny_lm, monkeypatch):
    """A crash after the first task: the rerun predicts only the rest, with equal outputs."""
    from llmr.evaluation import evaluate as ev

    full_pred, full_met = _run(small, tmp_path / "full", tiny_lm, max_new_tokens=6)
    real = ev._predict_task
    calls: list[str] = []

    def dies_on_second(lm, rows, *a, **k):
        calls.append(rows["task_name"].iloc[0])
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")  # what kill -9 leaves: no outputs, a partial
        return real(lm, rows, *a, **k)

    monkeypatch.setattr(ev, "_predict_task", dies_on_second)
    (tmp_path / "cut").mkdir()
    with pytest.raises(KeyboardInterrupt):
        _run(small, tmp_path / "cut", tiny_lm, max_new_tokens=6)
    partial = tmp_path / "cut" / "pred.parquet.partial"
    assert len(list(partial.glob("task-*.parquet"))) == 1
    assert not (tmp_path / "cut" / "pred.parquet").exists()
    first = calls[0]
    calls.clear()
    monkeypatch.setattr(
        ev,
        "_predict_task",
        lambda lm, rows, *a, **k: (
            calls.append(rows["task_name"].iloc[0]) or real(lm, rows, *a, **k)
        ),
    )
    pred, met = _run(small, tmp_path / "cut", tiny_lm, max_new_tokens=6)
    assert first not in calls and len(calls) == 2  # only the unfinished tasks reran
    pd.testing.assert_frame_equal(pred, full_pred)
    assert met == full_met
    assert not partial.exists()
    # other settings: the checkpoint is not reused
    partial.mkdir()
    (partial / "identity.json").write_text('{"other": 1}')
    calls.clear()
    _run(small, tmp_path / "cut", tiny_lm, max_new_tokens=6)
    assert len(calls) == 3
