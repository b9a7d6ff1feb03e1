"""Convert any BIG-bench JSON task (``<task>/task.json``) into llmr's example format.

Type detection: examples with ``target_scores`` are classification when every example
offers the same option set (at most ``MAX_LABELS`` options), else multiple choice;
examples with only ``target`` are open generation. Metrics map multiple_choice_grade →
accuracy, exact_str_match → exact_match, rouge/bleu → rouge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from llmr.io import RecordError
from llmr.records import CLASSIFICATION, GENERATION, LETTERS, MULTIPLE_CHOICE
from llmr.tasks.split import split_indices

MAX_LABELS = 10
DEFAULT_INPUT_PREFIXES = {"", "\nQ: ", "Q: "}


def _clean(text: str) -> str:
    """Collapse blank lines (the prompt format uses them as separators) and strip."""
    return re.sub(r"\n\s*\n+", "\n", str(text)).strip()


def read_task_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: malformed JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data.get("examples"), list) or not data["examples"]:
        raise RecordError(f"{path}: no top-level 'examples' list (tasks with subtasks are "
                          "not supported; name a subtask folder instead)")
    return data


def detect_type(data: dict, forced: str | None = None) -> tuple[str, list[str], str]:
    """(task_type, label set, metric) for a BIG-bench task definition."""
    ex = data["examples"]
    metrics = data.get("metrics", [])
    has_scores = all("target_scores" in e for e in ex)
    has_target = all("target" in e for e in ex)
    use_choice = has_scores and ("multiple_choice_grade" in metrics or not has_target)
    if forced == GENERATION or (not use_choice and forced is None):
        if not has_target:
            raise RecordError(f"task {data.get('name')}: generation needs 'target' fields")
        metric = "exact_match" if "exact_str_match" in metrics else "rouge"
        return GENERATION, [], metric
    if not has_scores:
        raise RecordError(f"task {data.get('name')}: no 'target_scores' for a choice task")
    option_sets = {tuple(e["target_scores"]) for e in ex}
    first = list(ex[0]["target_scores"])
    if forced == CLASSIFICATION or (
        forced is None and len({frozenset(s) for s in option_sets}) == 1
        and len(first) <= MAX_LABELS
    ):
        return CLASSIFICATION, [_clean(o) for o in first], "accuracy"
    return MULTIPLE_CHOICE, [], "accuracy"


def convert_example(e: dict, i: int, task: str, task_type: str, prefix: str, where: str) -> dict:
    """One BIG-bench example → llmr example dict."""
    if "input" not in e:
        raise RecordError(f"{where}: example {i}: missing 'input'")
    query = _clean(f"{prefix}{e['input']}" if prefix else e["input"])
    if not query:
        raise RecordError(f"{where}: example {i}: empty input")
    if task_type == GENERATION:
        target = e["target"]
        answers = [_clean(t) for t in (target if isinstance(target, list) else [target])]
        options: list[str] = []
    else:
        scores = e["target_scores"]
        if not scores:
            raise RecordError(f"{where}: example {i}: empty target_scores")
        opts = list(scores)
        best = max(range(len(opts)), key=lambda j: (scores[opts[j]], -j))
        if task_type == CLASSIFICATION:
            answers, options = [_clean(opts[best])], []
        else:
            if len(opts) > len(LETTERS):
                raise RecordError(f"{where}: example {i}: more than 26 options")
            answers, options = [LETTERS[best]], [_clean(o) for o in opts]
    answers = [a for a in answers if a] or answers
    if not answers or not answers[0]:
        raise RecordError(f"{where}: example {i}: empty answer")
    return {
        "query_id": f"{task}-{i}",
        "query": query,
        "answers": answers,
        "options": options,
        "task_name": task,
    }


def load_bigbench_tasks(
    source_dir: str,
    tasks: Sequence[str],
    seed: int,
    test_fraction: float,
    max_train: int | None,
    max_test: int | None,
    task_types: dict[str, str],
):
    """Read and split BIG-bench tasks: returns (train, test, passages, meta)."""
    from llmr.tasks import passages_from_train

    root = Path(source_dir)
    available = sorted(p.parent.name for p in root.glob("*/task.json"))
    unknown = [t for t in tasks if not (root / t / "task.json").exists()]
    if unknown:
        raise ValueError(
            f"unknown BIG-bench task name(s) {unknown} under {root} "
            f"({len(available)} available, e.g. {available[:5]})"
        )
    train_rows, test_rows, meta = [], [], {}
    for task in tasks:
        path = root / task / "task.json"
        data = read_task_json(path)
        task_type, labels, metric = detect_type(data, task_types.get(task))
        in_prefix = data.get("example_input_prefix", "\nQ: ")
        prefix = "" if in_prefix in DEFAULT_INPUT_PREFIXES else in_prefix.strip() + " "
        examples = [
            convert_example(e, i, task, task_type, prefix, str(path))
            for i, e in enumerate(data["examples"])
        ]
        tr, te = split_indices(len(examples), task, seed, test_fraction, max_train, max_test)
        train_rows += [examples[i] for i in tr]
        test_rows += [examples[i] for i in te]
        meta[task] = {"task_type": task_type, "labels": labels, "metric": metric}
    train, test = pd.DataFrame(train_rows), pd.DataFrame(test_rows)
    return train, test, passages_from_train(train), meta
