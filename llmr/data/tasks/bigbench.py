"""Convert any BIG-bench JSON task (``<task>/task.json``) into llmr's example format.

A task name is a folder under the BIG-bench root: ``task`` or ``task/subtask``. A task whose
``task.json`` has no examples but subtask folders is the union of its subtasks (query ids
``task/subtask-<i>``, so the subtask stays visible in every record).

Type detection, over every example of the task:

* examples carry ``target_scores`` and the metrics include ``multiple_choice_grade`` (or
  there is no ``target``): a choice task. It is classification when every example offers
  the same option set of at most ``MAX_LABELS`` options, else multiple choice with answer
  letters A..Z, AA, AB, ... (so more than 26 options work);
* a choice task with more than 26 options in some example whose examples also carry a
  ``target`` falls back to generation (the exact-match metric BIG-bench scores them by);
* otherwise open generation from ``target`` (or, for an example that has only
  ``target_scores``, the text of its best option). exact_str_match → exact_match, else rouge.

A malformed example (not an object, a missing or empty input, no usable answer, a type that
cannot be read) is skipped and logged with its reason. A task is refused with a
``TaskRefused`` whose ``reason`` is one of ``REFUSAL_REASONS`` when it cannot be read, has
no examples, more than ``max_malformed_fraction`` malformed examples, or fewer than two usable
ones (a task needs a train and a test example).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from llmr.core.io import RecordError, check_surrogates
from llmr.core.records import CLASSIFICATION, GENERATION, LETTERS, MULTIPLE_CHOICE, option_letter
from llmr.core.schema import section_defaults
from llmr.data.tasks.split import split_indices

log = logging.getLogger(__name__)

MAX_LABELS = 10
DEFAULT_INPUT_PREFIXES = {"", "\nQ: ", "Q: "}
# the config schema's suite.max_malformed_fraction (``llmr tasks check`` and direct callers)
DEFAULT_MAX_MALFORMED_FRACTION = section_defaults("suite")["max_malformed_fraction"]

# The fixed list of reasons a task can be refused for (``llmr tasks check`` shows them).
REFUSAL_REASONS = {
    "unreadable": "task.json is not valid UTF-8 JSON holding an object",
    "no_examples": "no examples and no subtask folders",
    "no_answer_fields": "no example has a 'target' or 'target_scores'",
    "too_many_malformed": "more malformed examples than suite.max_malformed_fraction allows",
    "too_few_examples": "fewer than 2 usable examples (a task needs a train and a test example)",
}


class TaskRefused(RecordError):
    """A task that cannot be converted; ``reason`` is a key of ``REFUSAL_REASONS``."""

    def __init__(self, task: str, reason: str, detail: str):
        assert reason in REFUSAL_REASONS, reason
        self.task, self.reason, self.detail = task, reason, detail
        super().__init__(f"BIG-bench task {task!r} refused ({reason}): {detail}")


@dataclass
class ConvertedTask:
    """One converted task: its type, metric, usable examples and skipped examples."""

    name: str
    task_type: str
    labels: list[str]
    metric: str
    examples: list[dict]
    n_usable: int
    n_total: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)
    subtasks: list[str] = field(default_factory=list)
    note: str = ""

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(r for _, r in self.skipped).most_common())


@dataclass
class _Part:
    """One task.json: its task name (``task`` or ``task/subtask``), where it is, a loader."""

    name: str
    where: str
    load: Callable[[], dict]


def _clean(text: str) -> str:
    """Collapse blank lines (the prompt format uses them as separators) and strip."""
    return re.sub(r"\n\s*\n+", "\n", str(text)).strip()


def parse_task_json(raw: bytes, where: str, task: str) -> dict:
    """Parse a task.json's bytes; TaskRefused("unreadable") names the file and the problem."""
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
        check_surrogates(text, data, where)
    except RecordError as e:
        raise TaskRefused(task, "unreadable", str(e)) from None
    except UnicodeDecodeError as e:
        raise TaskRefused(task, "unreadable", f"{where}: not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise TaskRefused(
            task, "unreadable", f"{where}: malformed JSON ({e.msg} at line {e.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise TaskRefused(task, "unreadable", f"{where}: expected a JSON object at top level")
    return data


def read_task_json(path: Path, task: str | None = None) -> dict:
    """Read one task.json file (see ``parse_task_json``)."""
    return parse_task_json(Path(path).read_bytes(), str(path), task or Path(path).parent.name)


def _has_examples(data: dict) -> bool:
    return isinstance(data.get("examples"), list) and len(data["examples"]) > 0


def task_parts(root: Path, name: str) -> tuple[dict, list[_Part]]:
    """The parent task.json's data and the task.json file(s) making up task ``name``."""
    path = root / name / "task.json"
    data = read_task_json(path, name)
    if "examples" in data or not any(root.joinpath(name).glob("*/task.json")):
        if not _has_examples(data):
            raise TaskRefused(
                name, "no_examples", f"{path}: no 'examples' list and no subtask folders"
            )
        return data, [_Part(name, str(path), lambda d=data: d)]
    parts = []
    for sub in sorted(root.joinpath(name).glob("*/task.json")):
        sub_name = f"{name}/{sub.parent.name}"
        parts.append(_Part(sub_name, str(sub), lambda s=sub, n=sub_name: read_task_json(s, n)))
    return data, parts


def _option_scores(e: dict) -> dict | None:
    """The example's target_scores when well-formed (non-empty, numeric values), else None."""
    ts = e.get("target_scores")
    if not isinstance(ts, dict) or not ts:
        return None
    if not all(isinstance(v, int | float) for v in ts.values()):  # bool counts as 0 / 1
        return None
    return ts


def _targets(e: dict) -> list[str] | None:
    """The example's target(s) as strings, or None when missing / of the wrong type."""
    t = e.get("target")
    if isinstance(t, str | int | float) and not isinstance(t, bool):
        return [str(t)]
    if isinstance(t, list) and t and all(isinstance(x, str | int | float) for x in t):
        return [str(x) for x in t]
    return None


@dataclass
class _Stats:
    """What type detection needs to know about a task's examples."""

    n: int = 0
    n_scores: int = 0
    n_target: int = 0
    max_options: int = 0
    option_sets: set = field(default_factory=set)
    first_options: list[str] = field(default_factory=list)
    metrics: set = field(default_factory=set)

    def add(self, data: dict) -> None:
        self.metrics.update(m for m in data.get("metrics", []) or [] if isinstance(m, str))
        for e in data.get("examples", []) if isinstance(data.get("examples"), list) else []:
            if not isinstance(e, dict):
                self.n += 1
                continue
            self.n += 1
            ts = _option_scores(e)
            if ts is not None:
                self.n_scores += 1
                self.max_options = max(self.max_options, len(ts))
                if len(self.option_sets) <= 1:
                    self.option_sets.add(frozenset(ts))
                    if not self.first_options:
                        self.first_options = list(ts)
            if "target" in e:
                self.n_target += 1


def _detect(
    stats: _Stats, name: str, forced: str | None, tolerance: float
) -> tuple[str, list[str], str, str]:
    """(task_type, labels, metric, note) from the task's statistics."""
    if not stats.n_scores and not stats.n_target:
        raise TaskRefused(
            name,
            "no_answer_fields",
            f"none of its {stats.n} examples has a 'target' or 'target_scores'",
        )
    need = (1 - tolerance) * stats.n
    has_scores = stats.n_scores > 0 and stats.n_scores >= need
    has_target = stats.n_target > 0 and stats.n_target >= need
    gen_metric = "exact_match" if "exact_str_match" in stats.metrics else "rouge"
    if forced == GENERATION:
        return GENERATION, [], gen_metric, "type forced"
    use_choice = has_scores and ("multiple_choice_grade" in stats.metrics or not has_target)
    if forced is None and use_choice and stats.max_options > len(LETTERS) and has_target:
        return (
            GENERATION,
            [],
            gen_metric,
            (f"{stats.max_options} options in an example: generation from 'target'"),
        )
    if forced is None and not use_choice:
        return GENERATION, [], gen_metric, ""
    single_set = len(stats.option_sets) == 1
    # a label is the last line of its demonstration (records.passage_label): a label of
    # several lines cannot be a classification label, so such a task is multiple choice
    one_line = not any("\n" in _clean(o) for o in stats.first_options)
    if forced == CLASSIFICATION or (
        forced is None and single_set and one_line and len(stats.first_options) <= MAX_LABELS
    ):
        return CLASSIFICATION, [_clean(o) for o in stats.first_options], "accuracy", ""
    note = (
        f"up to {stats.max_options} options (letters A..{option_letter(stats.max_options - 1)})"
        if stats.max_options > len(LETTERS)
        else ""
    )
    return MULTIPLE_CHOICE, [], "accuracy", note


def _input_prefix(data: dict, parent: dict) -> str:
    in_prefix = data.get("example_input_prefix", parent.get("example_input_prefix", "\nQ: "))
    if not isinstance(in_prefix, str) or in_prefix in DEFAULT_INPUT_PREFIXES:
        return ""
    return in_prefix.strip() + " "


def _all_inputs_empty(examples: list) -> bool:
    return all(
        isinstance(e, dict)
        and isinstance(e.get("input", ""), str)
        and not e.get("input", "").strip()
        for e in examples
    )


def convert_example(
    e: object,
    i: int,
    task: str,
    task_type: str,
    prefix: str,
    where: str,
    labels: Sequence[str] = (),
    choices_as_input: str | None = None,
) -> dict:
    """One BIG-bench example → llmr example dict; RecordError names ``where`` and the reason.

    ``choices_as_input``: the example's input is empty in the whole task (the question is in
    the options, e.g. cause_and_effect); the query is this text followed by the choices.
    """
    where = f"{where}: example {i}"
    if not isinstance(e, dict):
        raise RecordError(f"{where}: not a JSON object")
    if "input" not in e:
        raise RecordError(f"{where}: missing 'input'")
    if not isinstance(e["input"], str):
        raise RecordError(f"{where}: 'input' is a {type(e['input']).__name__}, not a string")
    scores = _option_scores(e)
    no_gold = (
        f"{where}: no option of 'target_scores' has a positive score (all zero or "
        "negative: no gold answer)"
    )
    if choices_as_input is not None and scores:
        lines = [choices_as_input] if choices_as_input else []
        query = _clean("\n".join(lines + [f"choice: {o}" for o in scores]))
    else:
        query = _clean(f"{prefix}{e['input']}" if prefix else e["input"])
    if not query or (prefix and not _clean(e["input"]) and choices_as_input is None):
        raise RecordError(f"{where}: empty input")
    options: list[str] = []
    if task_type == GENERATION:
        answers = _targets(e)
        if answers is None and scores:
            if max(scores.values()) <= 0:
                raise RecordError(no_gold)
            opts = list(scores)
            answers = [opts[max(range(len(opts)), key=lambda j: (scores[opts[j]], -j))]]
        if answers is None:
            raise RecordError(f"{where}: no usable 'target' (a string or list of strings)")
        answers = [a for a in (_clean(t) for t in answers) if a]
    else:
        if scores is None:
            raise RecordError(f"{where}: missing, empty or non-numeric 'target_scores'")
        if max(scores.values()) <= 0:
            raise RecordError(no_gold)
        opts = list(scores)
        best = max(range(len(opts)), key=lambda j: (scores[opts[j]], -j))
        if task_type == CLASSIFICATION:
            if labels and {_clean(o) for o in opts} != set(labels):
                raise RecordError(f"{where}: its options differ from the task's label set")
            answers = [_clean(opts[best])]
        else:
            options = [_clean(o) for o in opts]
            answers = [option_letter(best)] if options[best] else []
    if not answers:
        raise RecordError(f"{where}: empty answer")
    return {
        "query_id": f"{task}-{i}",
        "query": query,
        "answers": answers,
        "options": options,
        "task_name": task,
    }


def convert_task(
    name: str,
    parts: Sequence[_Part],
    parent: dict | None = None,
    forced: str | None = None,
    max_malformed_fraction: float = DEFAULT_MAX_MALFORMED_FRACTION,
    keep_examples: bool = True,
) -> ConvertedTask:
    """Convert one task (one task.json, or the union of its subtasks' files).

    Reads each part twice when there are several (statistics, then conversion) so that a
    task with many large subtasks is never held twice in memory.
    """
    parent = parent or {}
    stats = _Stats()
    stats.metrics.update(m for m in parent.get("metrics", []) or [] if isinstance(m, str))
    cached = parts[0].load() if len(parts) == 1 else None
    for part in parts:
        stats.add(cached if cached is not None else part.load())
    if stats.n == 0:
        raise TaskRefused(name, "no_examples", f"{parts[0].where if parts else name}: no examples")
    task_type, labels, metric, note = _detect(stats, name, forced, max_malformed_fraction)
    examples: list[dict] = []
    skipped: list[tuple[str, str]] = []
    n_usable = 0
    for part in parts:
        data = cached if cached is not None else part.load()
        exs = data.get("examples", []) if isinstance(data.get("examples"), list) else []
        prefix = _input_prefix(data, parent)
        choices_as_input = None
        if task_type != GENERATION and exs and _all_inputs_empty(exs):
            tp = data.get("task_prefix", "")
            choices_as_input = _clean(tp) if isinstance(tp, str) else ""
        for i, e in enumerate(exs):
            try:
                ex = convert_example(
                    e, i, part.name, task_type, prefix, part.where, labels, choices_as_input
                )
            except RecordError as err:
                msg = str(err)
                reason = msg.split(f"example {i}: ", 1)[-1]
                skipped.append((f"{part.where}: example {i}", reason))
                log.info("%s: skipped example %d: %s", part.name, i, reason)
                continue
            ex["task_name"] = name
            n_usable += 1
            if keep_examples:
                examples.append(ex)
        del data
    n_total = stats.n
    if skipped:
        counts = ", ".join(f"{n} × {r}" for r, n in Counter(r for _, r in skipped).most_common())
        log.warning(
            "task %s: skipped %d of %d malformed examples (%s)", name, len(skipped), n_total, counts
        )
    if len(skipped) > max_malformed_fraction * n_total:
        first = skipped[0]
        raise TaskRefused(
            name,
            "too_many_malformed",
            f"{len(skipped)} of {n_total} examples are malformed (more than "
            f"suite.max_malformed_fraction={max_malformed_fraction}); first: {first[0]}: "
            f"{first[1]}",
        )
    if n_usable < 2:
        raise TaskRefused(name, "too_few_examples", f"{n_usable} usable example(s)")
    subtasks = [p.name for p in parts] if len(parts) > 1 or parts[0].name != name else []
    return ConvertedTask(
        name=name,
        task_type=task_type,
        labels=labels,
        metric=metric,
        examples=examples,
        n_usable=n_usable,
        n_total=n_total,
        skipped=skipped,
        subtasks=subtasks,
        note=note,
    )


def available_tasks(root: Path) -> list[str]:
    """Every task and subtask name under a BIG-bench root (``task``, ``task/subtask``)."""
    names = {p.parent.name for p in root.glob("*/task.json")}
    names |= {f"{p.parent.parent.name}/{p.parent.name}" for p in root.glob("*/*/task.json")}
    return sorted(names)


def iter_tasks(
    root: Path,
    names: Sequence[str],
    task_types: dict[str, str] | None = None,
    max_malformed_fraction: float = DEFAULT_MAX_MALFORMED_FRACTION,
    keep_examples: bool = True,
) -> Iterator[ConvertedTask | TaskRefused]:
    """Convert each named task, yielding the ConvertedTask or the TaskRefused error."""
    for name in names:
        try:
            parent, parts = task_parts(root, name)
            yield convert_task(
                name,
                parts,
                parent,
                (task_types or {}).get(name),
                max_malformed_fraction,
                keep_examples,
            )
        except TaskRefused as e:
            yield e


def load_bigbench_tasks(
    source_dir: str,
    tasks: Sequence[str],
    seed: int,
    test_fraction: float,
    max_train: int | None,
    max_test: int | None,
    task_types: dict[str, str],
    max_malformed_fraction: float = DEFAULT_MAX_MALFORMED_FRACTION,
):
    """Read and split BIG-bench tasks: returns (train, test, passages, meta)."""
    from llmr.data.tasks import passages_from_train

    root = Path(source_dir)
    unknown = [t for t in tasks if not (root / t / "task.json").exists()]
    if unknown:
        available = available_tasks(root)
        raise ValueError(
            f"unknown BIG-bench task name(s) {unknown} under {root} "
            f"({len(available)} available, e.g. {available[:5]}; "
            "`llmr tasks check` lists them all)"
        )
    train_rows, test_rows, meta = [], [], {}
    for task, result in zip(
        tasks, iter_tasks(root, tasks, task_types, max_malformed_fraction), strict=True
    ):
        if isinstance(result, TaskRefused):
            raise result
        examples = result.examples
        tr, te = split_indices(len(examples), task, seed, test_fraction, max_train, max_test)
        train_rows += [examples[i] for i in tr]
        test_rows += [examples[i] for i in te]
        meta[task] = {
            "task_type": result.task_type,
            "labels": result.labels,
            "metric": result.metric,
        }
        log.info(
            "task %s: %s, %s, %d usable of %d examples%s",
            task,
            result.task_type,
            result.metric,
            result.n_usable,
            result.n_total,
            f" ({result.note})" if result.note else "",
        )
    columns = ["query_id", "query", "answers", "options", "task_name"]
    train, test = (
        pd.DataFrame(train_rows, columns=columns),
        pd.DataFrame(test_rows, columns=columns),
    )
    return train, test, passages_from_train(train), meta
