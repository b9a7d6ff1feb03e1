"""Evaluation metrics, computed per example so a bootstrap can resample them.

Every per-example function takes ``predictions`` (one string each) and ``golds`` (one list
of acceptable answers each) and returns a float array in [0, 1]. ``metric_for`` maps a
task's ``metric`` (tasks table) to the name of its main metric and a function returning
``{name: per-example array, ...}`` with the main metric first. Binary F1 is not a mean over
examples, so it is computed on the whole set (``binary_f1``) and reported as an extra.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

Golds = Sequence[Sequence[str]]
PerExampleFn = Callable[[Sequence[str], Golds], dict[str, np.ndarray]]

TASK_METRICS = ("accuracy", "exact_match", "rouge", "f1_acc")
_POSITIVE = ("yes", "true", "1", "positive", "duplicate", "equivalent", "paraphrase")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def _check(predictions: Sequence[str], golds: Golds) -> None:
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold lists")


def _as_list(gold: Sequence[str] | str) -> list[str]:
    return [gold] if isinstance(gold, str) else [str(g) for g in gold]


def _label_norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def accuracy(predictions: Sequence[str], golds: Golds) -> np.ndarray:
    """1.0 where the prediction equals any gold answer (whitespace-stripped, case-folded)."""
    _check(predictions, golds)
    return np.array(
        [
            float(_label_norm(p) in {_label_norm(g) for g in _as_list(gs)})
            for p, gs in zip(predictions, golds, strict=True)
        ],
        dtype=np.float64,
    )


def positive_label(labels: Sequence[str]) -> str:
    """The positive class of a binary label set ("yes", "true", ...; else the last label)."""
    if not labels:
        raise ValueError("binary F1 needs a label set")
    for lab in labels:
        if _label_norm(lab) in _POSITIVE:
            return lab
    return labels[-1]


def binary_f1(predictions: Sequence[str], golds: Golds, positive: str) -> float:
    """F1 of the ``positive`` class over the whole set (gold = first answer); 0 if undefined."""
    _check(predictions, golds)
    pos = _label_norm(positive)
    pred_pos = np.array([_label_norm(p) == pos for p in predictions])
    gold_pos = np.array([_label_norm(_as_list(g)[0]) == pos for g in golds])
    tp = int((pred_pos & gold_pos).sum())
    denom = 2 * tp + int((pred_pos & ~gold_pos).sum()) + int((~pred_pos & gold_pos).sum())
    return 2 * tp / denom if denom else 0.0


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def exact_match(predictions: Sequence[str], golds: Golds) -> np.ndarray:
    """SQuAD exact match, max over the gold answers (TriviaQA style)."""
    _check(predictions, golds)
    return np.array(
        [
            max(
                (float(normalize_answer(p) == normalize_answer(g)) for g in _as_list(gs)),
                default=0.0,
            )
            for p, gs in zip(predictions, golds, strict=True)
        ],
        dtype=np.float64,
    )


def token_f1(predictions: Sequence[str], golds: Golds) -> np.ndarray:
    """SQuAD token-level F1, max over the gold answers."""
    _check(predictions, golds)
    return np.array(
        [
            max((_token_f1(p, g) for g in _as_list(gs)), default=0.0)
            for p, gs in zip(predictions, golds, strict=True)
        ],
        dtype=np.float64,
    )


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge(predictions: Sequence[str], golds: Golds) -> dict[str, np.ndarray]:
    """ROUGE-1/2/L F-measure per example (``rouge-score``, stemmed), max over golds."""
    _check(predictions, golds)
    scorer = _rouge_scorer()
    out = {k: np.zeros(len(predictions)) for k in ("rougeL", "rouge1", "rouge2")}
    for i, (p, gs) in enumerate(zip(predictions, golds, strict=True)):
        for g in _as_list(gs):
            s = scorer.score(str(g), str(p))
            for k in out:
                out[k][i] = max(out[k][i], s[k].fmeasure)
    return out


def _acc_fn(predictions: Sequence[str], golds: Golds) -> dict[str, np.ndarray]:
    return {"accuracy": accuracy(predictions, golds)}


def _em_fn(predictions: Sequence[str], golds: Golds) -> dict[str, np.ndarray]:
    return {
        "exact_match": exact_match(predictions, golds),
        "token_f1": token_f1(predictions, golds),
    }


_DISPATCH: dict[str, tuple[str, PerExampleFn]] = {
    "accuracy": ("accuracy", _acc_fn),
    "f1_acc": ("accuracy", _acc_fn),
    "exact_match": ("exact_match", _em_fn),
    "rouge": ("rougeL", rouge),
}


def metric_for(task_metric: str) -> tuple[str, PerExampleFn]:
    """(main metric name, per-example function) for a tasks-table ``metric`` value.

    accuracy → accuracy; exact_match → exact_match (+ token_f1); rouge → rougeL
    (+ rouge1, rouge2); f1_acc → accuracy (binary F1 via ``corpus_extras``).
    """
    try:
        return _DISPATCH[task_metric]
    except KeyError:
        raise ValueError(f"unknown metric {task_metric!r} (one of {TASK_METRICS})") from None


def corpus_extras(
    task_metric: str, predictions: Sequence[str], golds: Golds, labels: Sequence[str] = ()
) -> dict[str, float]:
    """Whole-set metrics that are not means over examples: for ``f1_acc``, the binary F1 and
    ``acc_f1`` = (accuracy + F1) / 2, the number the paper reports for MRPC and QQP."""
    if task_metric != "f1_acc" or len(predictions) == 0:
        return {}
    if not labels:
        labels = sorted({_as_list(g)[0] for g in golds})
    f1 = binary_f1(predictions, golds, positive_label(labels))
    acc = float(accuracy(predictions, golds).mean())
    return {"f1": f1, "acc_f1": (acc + f1) / 2}
