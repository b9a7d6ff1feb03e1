"""A task definition: where a dataset lives, how one of its rows becomes a paper record."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmr.core.records import CLASSIFICATION, GENERATION, MULTIPLE_CHOICE

Row = dict[str, Any]


@dataclass(frozen=True)
class Converted:
    """One dataset row, ready for a template.

    ``fields`` fill the template's ``{name}`` slots; ``answers`` are the gold answers
    (a letter for multiple choice, a label word for classification); ``options`` are the
    answer texts of a multiple-choice row, else empty.
    """

    fields: dict[str, str]
    answers: list[str]
    options: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskDef:
    """One of the paper's tasks.

    ``dataset`` / ``config`` name it on the Hugging Face hub (``datasets.load_dataset``);
    ``train_split`` / ``test_split`` are its hub splits (None: the task has no such split,
    e.g. MNLI's test sets are the separate tasks mnli_m and mnli_mm). ``labels`` are the
    label words of a classification task, indexed by the dataset's label id. ``metric``
    is the llmr metric (tasks table); ``paper_metric`` the name the paper's code reports.
    ``convert`` turns a hub row into a :class:`Converted` or None to drop the row.
    """

    name: str
    dataset: str
    config: str | None
    train_split: str | None
    test_split: str | None
    task_type: str
    metric: str
    paper_metric: str
    cluster: str
    convert: Callable[[Row], Converted | None]
    labels: tuple[str, ...] = ()
    templates: str = ""  # key of TEMPLATES; defaults to the task name

    def split(self, which: str) -> str | None:
        """Hub split behind llmr's ``train`` or ``test``."""
        if which not in ("train", "test"):
            raise ValueError(f"split must be train or test, not {which!r}")
        return self.train_split if which == "train" else self.test_split


YES_NO = ("No", "Yes")  # label 0 = not (equivalent / true / duplicate), 1 = yes
NLI3 = ("Yes", "Maybe", "No")  # entailment, neutral, contradiction
ENTAIL2 = ("Yes", "No")  # entailment, not_entailment
SENTIMENT = ("Negative", "Positive")


def letter(key: int | str) -> str:
    """Answer letter of a 0-based option index or of a letter key ("0" → A, "B" → B)."""
    key = str(key).strip().upper()
    if key in ("A", "B", "C", "D"):
        return key
    if key.isdigit() and int(key) < 4:
        return string.ascii_uppercase[int(key)]
    raise ValueError(f"unknown answer key {key!r}")


def squash(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space."""
    return " ".join(str(text).split())


def drop_brackets(text: str) -> str:
    """Remove ``[...]`` markers followed by whitespace (HellaSwag's "[header] " tags)."""
    return re.sub(r"\[.*?\]\s", "", text)


def label_task(
    fields: Callable[[Row], dict[str, str]], labels: tuple[str, ...]
) -> Callable[[Row], Converted | None]:
    """Conversion of a classification row whose ``label`` indexes ``labels`` (−1 dropped)."""

    def convert(row: Row) -> Converted | None:
        label = int(row["label"])
        if label < 0:
            return None
        return Converted(fields(row), [labels[label]])

    return convert


def text_fields(*names: str) -> Callable[[Row], dict[str, str]]:
    """Template fields copied from the row's columns of the same names."""
    return lambda row: {n: str(row[n]) for n in names}


def classification(
    name: str,
    dataset: str,
    config: str | None,
    train: str | None,
    test: str | None,
    labels: tuple[str, ...],
    cluster: str,
    fields: Callable[[Row], dict[str, str]],
    metric: str = "accuracy",
    paper_metric: str = "simple_accuracy",
    templates: str = "",
) -> TaskDef:
    """A classification task with a fixed label set (constrained decoding at evaluation)."""
    return TaskDef(
        name,
        dataset,
        config,
        train,
        test,
        CLASSIFICATION,
        metric,
        paper_metric,
        cluster,
        label_task(fields, labels),
        labels,
        templates,
    )


def multiple_choice(
    name: str,
    dataset: str,
    config: str | None,
    train: str | None,
    test: str | None,
    cluster: str,
    convert: Callable[[Row], Converted | None],
    templates: str = "",
) -> TaskDef:
    """A multiple-choice task: answers are letters, options the answer texts."""
    return TaskDef(
        name,
        dataset,
        config,
        train,
        test,
        MULTIPLE_CHOICE,
        "accuracy",
        "simple_accuracy",
        cluster,
        convert,
        (),
        templates,
    )


def generation(
    name: str,
    dataset: str,
    config: str | None,
    train: str | None,
    test: str | None,
    cluster: str,
    convert: Callable[[Row], Converted | None],
    metric: str = "rouge",
    paper_metric: str = "rouge",
) -> TaskDef:
    """An open generation task (greedy decoding): ROUGE, or exact match for QA."""
    return TaskDef(
        name, dataset, config, train, test, GENERATION, metric, paper_metric, cluster, convert
    )
