"""Run the LLM on the few-shot prompts and score its answers (docs/METHOD.md, "Evaluation").

Classification with a label set: greedy decoding constrained to the labels. Multiple
choice: the option with the highest average log-probability (prediction = its letter).
Generation: greedy, first line. Aggregate values in the metrics JSON are percentages;
per-example values in the predictions table are in [0, 1].
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from llmr.core.io import (
    RecordError,
    file_digest,
    read_parquet,
    read_table,
    write_json,
    write_parquet,
)
from llmr.core.partial import PartialOutputs
from llmr.core.records import (
    CLASSIFICATION,
    GENERATION,
    MULTIPLE_CHOICE,
    option_letter,
    real_options,
)
from llmr.evaluation.metrics import corpus_extras, metric_for

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("accuracy", "exact_match", "token_f1", "rougeL", "rouge1", "rouge2")
PREDICTION_COLUMNS = (
    "query_id",
    "task_name",
    "query",
    "prompt",
    "output",
    "prediction",
    "gold",
    "option_text",
    "option_scores",
    "metric",
    "score",
    *METRIC_COLUMNS,
    "demo_task_match",
    "demo_label_match",
    "retriever",
    "variant",
)


def _clean(x: Any) -> Any:
    """NaN → None so the metrics JSON stays valid."""
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def _mean(values) -> float:
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def _predict_task(
    lm: tuple[Any, Any],
    rows: pd.DataFrame,
    task_type: str,
    labels: list[str],
    max_length: int,
    max_new_tokens: int,
    token_budget: int,
) -> dict[str, list]:
    """Run the LLM on one task's prompts; returns output / prediction / option columns."""
    from llmr.models import lm as lm_mod

    model, tok = lm
    prompts = rows["prompt"].tolist()
    n = len(prompts)
    out: dict[str, list] = {"option_text": [None] * n, "option_scores": [None] * n}
    if task_type == MULTIPLE_CHOICE:
        options = []
        for qid, opts in zip(rows["query_id"], rows["options"], strict=True):
            o = real_options(opts)
            if not o:
                raise RecordError(f"multiple-choice query {qid!r} has no options")
            options.append(o)
        scores = lm_mod.score_options(
            model, tok, prompts, options, max_length=max_length, token_budget=token_budget
        )
        best = [int(np.argmax(s)) for s in scores]
        out["output"] = [o[b] for o, b in zip(options, best, strict=True)]
        out["prediction"] = [option_letter(b) for b in best]  # A..Z, AA, AB, ...
        out["option_text"] = list(out["output"])
        out["option_scores"] = [np.asarray(s, dtype=np.float64).tolist() for s in scores]
        return out
    if task_type == CLASSIFICATION and labels:
        raw = lm_mod.constrained_decode(
            model, tok, prompts, labels, max_length=max_length, token_budget=token_budget
        )
        by_norm = {lab.strip(): lab for lab in labels}
        out["output"] = list(raw)
        out["prediction"] = [by_norm.get(r.strip(), r).strip() for r in raw]
        return out
    if task_type == CLASSIFICATION:
        log.warning("classification task without a label set: using free generation")
    raw = lm_mod.greedy_generate(
        model,
        tok,
        prompts,
        max_new_tokens=max_new_tokens,
        max_length=max_length,
        token_budget=token_budget,
    )
    out["output"] = list(raw)
    out["prediction"] = [r.split("\n", 1)[0].strip() for r in raw]
    return out


def evaluate(
    prompts: str,
    test: str,
    tasks: str,
    model: str,
    out_predictions: str,
    out_metrics: str,
    *,
    max_length: int,
    max_new_tokens: int,
    precision: str,
    token_budget: int,
    retriever: str = "",
    variant: str = "",
) -> None:
    """Predict every prompt with the LLM at ``model``; write predictions and metrics.

    ``precision`` (``auto | bf16 | fp16 | fp32``) is the LLM's weight precision. Each
    finished task's predictions are flushed to ``<out_predictions>.partial/``; a rerun
    after a crash or ``kill -9`` takes them from there (when the inputs and settings are
    the same, ``identity.json``) and predicts only the remaining tasks, with the same
    results as an uninterrupted run. The folder is removed once the outputs are written.

    Predictions table: ``PREDICTION_COLUMNS``. Metrics JSON: ``retriever``, ``variant``,
    ``model``, ``tasks`` = {task: {metric, task_metric, value (percent), n, task_type,
    held_out, extras (token_f1 / rouge1 / rouge2 / rougeL / f1, percent),
    demo_label_match, demo_task_match}} and ``means`` (mean_held_in / mean_held_out /
    mean_all over tasks with n > 0). A task with no test prompts gets n = 0 and value null.
    """
    pr = read_parquet(prompts)
    te = read_table(test)
    te["query_id"] = te["query_id"].astype(str)
    pr["query_id"] = pr["query_id"].astype(str)
    missing = sorted(set(pr["query_id"]) - set(te["query_id"]))
    if missing:
        raise ValueError(f"{prompts}: {len(missing)} query ids not in {test}, e.g. {missing[0]!r}")
    df = pr.merge(
        te[["query_id", "query", "answers", "options"]], on="query_id", how="left", validate="1:1"
    )
    tdf = read_parquet(tasks)
    unknown = sorted(set(df["task_name"]) - set(tdf["task_name"]))
    if unknown:
        raise ValueError(f"prompts name tasks missing from {tasks}: {unknown}")

    lm = None
    identity = {
        "prompts": file_digest(prompts, "sha1"),
        "test": file_digest(test, "sha1"),
        "model": str(model),
        "max_length": max_length,
        "max_new_tokens": max_new_tokens,
        "precision": precision,
        "version": PARTIAL_VERSION,
    }
    partial = PartialOutputs(out_predictions, identity)

    frames, per_task = [], {}
    for task in tdf.itertuples(index=False):
        rows = df[df["task_name"] == task.task_name].reset_index(drop=True)
        name, fn = metric_for(task.metric)
        info: dict[str, Any] = {
            "metric": name,
            "task_metric": task.metric,
            "task_type": task.task_type,
            "held_out": bool(task.held_out),
            "n": len(rows),
            "value": None,
        }
        per_task[task.task_name] = info
        if rows.empty:
            log.warning("task %s: no test prompts, skipped", task.task_name)
            continue
        if task.task_type not in (CLASSIFICATION, MULTIPLE_CHOICE, GENERATION):
            raise ValueError(f"task {task.task_name}: unknown task_type {task.task_type!r}")
        labels = [str(lab) for lab in (task.labels if task.labels is not None else [])]
        res = _load_task(partial, task.task_name, rows)
        if res is None:
            if lm is None:
                from llmr.models.lm import load_causal_lm

                lm = load_causal_lm(model, dtype=precision)
            res = _predict_task(
                lm, rows, task.task_type, labels, max_length, max_new_tokens, token_budget
            )
            _save_task(partial, task.task_name, rows, res)
        else:
            log.info(
                "task %s: %d predictions resumed from %s", task.task_name, len(rows), partial.folder
            )
        for col, vals in res.items():
            rows[col] = vals
        golds = [[str(a) for a in ans] for ans in rows["answers"]]
        rows["gold"] = golds
        values = fn(rows["prediction"].tolist(), golds)
        for col in METRIC_COLUMNS:
            rows[col] = values.get(col, np.full(len(rows), np.nan))
        rows["metric"] = name
        rows["score"] = values[name]
        info["value"] = 100.0 * float(np.mean(values[name]))
        for extra, arr in values.items():
            if extra != name:
                info[extra] = 100.0 * float(np.mean(arr))
        for extra, val in corpus_extras(task.metric, rows["prediction"], golds, labels).items():
            info[extra] = 100.0 * val
        for col in ("demo_label_match", "demo_task_match"):
            info[col] = _clean(_mean(rows[col])) if col in rows else None
        log.info("task %s: %s = %.2f (n=%d)", task.task_name, name, info["value"], len(rows))
        frames.append(rows)

    preds = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for col in PREDICTION_COLUMNS:
        if col not in preds:
            preds[col] = pd.Series(dtype=object)
    preds["retriever"], preds["variant"] = retriever, variant
    write_parquet(preds[list(PREDICTION_COLUMNS)], out_predictions)

    def task_mean(sel) -> float | None:
        vals = [v["value"] for v in per_task.values() if v["value"] is not None and sel(v)]
        return float(np.mean(vals)) if vals else None

    write_json(
        {
            "retriever": retriever,
            "variant": variant,
            "model": model,
            "tasks": {t: {k: _clean(v) for k, v in d.items()} for t, d in per_task.items()},
            "means": {
                "mean_held_in": task_mean(lambda v: not v["held_out"]),
                "mean_held_out": task_mean(lambda v: v["held_out"]),
                "mean_all": task_mean(lambda v: True),
            },
        },
        out_metrics,
    )
    partial.remove()


PARTIAL_VERSION = 1
_RESULT_COLUMNS = ("output", "prediction", "option_text", "option_scores")


def _task_part(task: str) -> str:
    """The part name of a task's predictions (task names may hold ``/``)."""
    return f"task-{hashlib.sha1(task.encode()).hexdigest()[:12]}"


def _load_task(partial: PartialOutputs, task: str, rows: pd.DataFrame) -> dict[str, list] | None:
    """The saved result columns of ``task`` if finished, and for the same query ids."""
    df = partial.load(_task_part(task))
    if df is None or df["query_id"].tolist() != rows["query_id"].tolist():
        return None
    return {c: [_plain(v) for v in df[c]] for c in _RESULT_COLUMNS}


def _save_task(partial: PartialOutputs, task: str, rows: pd.DataFrame, res: dict[str, list]):
    df = pd.DataFrame(
        {"query_id": rows["query_id"].tolist(), **{c: res[c] for c in _RESULT_COLUMNS}}
    )
    partial.save(_task_part(task), df)


def _plain(v: Any) -> Any:
    """Parquet list cells come back as numpy arrays: make them lists again."""
    return v.tolist() if isinstance(v, np.ndarray) else v
