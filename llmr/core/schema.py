"""The config schema (``schemas/config.schema.yaml``) as the one place defaults are written.

Stage functions take their hyperparameters without defaults; the pipeline passes them from
the config, which the schema fills. Code that calls a stage directly (tests, scripts, a
notebook) takes the same values from here: ``training_defaults("retriever")`` is what the
rule ``train_retriever`` passes under the default schema, minus the paths.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"

# the encoder settings every encoder stage shares (config ``models``); EPR's loss weights
# (contrastive only); the teacher settings of the retriever section, which EPR has no use for
ENCODER_KEYS = ("pooling", "query_prefix", "passage_prefix")
EPR_WEIGHTS = {"kd_weight": 0.0, "contrastive_weight": 1.0}
TEACHER_KEYS = ("teacher_temperature", "teacher_standardize", "teacher_penalty")


@cache
def _schema() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(SCHEMA.read_text())


def section_defaults(*path: str) -> dict[str, Any]:
    """{key: default} of the config section at ``path`` (e.g. ``"retriever"``), from the
    schema; keys without a default (required ones) are left out."""
    node = _schema()
    for key in path:
        node = node["properties"][key]
    return {
        k: copy.deepcopy(v["default"])
        for k, v in node.get("properties", {}).items()
        if "default" in v
    }


def default_value(key: str) -> Any:
    """The schema default of a top-level key (e.g. ``heldback_fraction``)."""
    return copy.deepcopy(_schema()["properties"][key]["default"])


def stage_defaults(func: Callable[..., Any], *sources: str) -> dict[str, Any]:
    """Schema defaults of ``sources`` (config sections such as ``"eval"``, or top-level keys
    such as ``"precision"``; an earlier source wins a shared key) for the parameters ``func``
    takes by those names: e.g. ``stage_defaults(reward_score, "teacher", "reward")``."""
    values: dict[str, Any] = {}
    for source in reversed(sources):
        node = _schema()["properties"][source]
        values |= section_defaults(source) if "properties" in node else {source: node["default"]}
    names = inspect.signature(func).parameters
    return {k: copy.deepcopy(v) for k, v in values.items() if k in names}


def epr_settings() -> dict[str, Any]:
    """What the rule train_epr fixes for EPR: its loss weights, and its teacher (the LLM
    scores) taken as it is (the retriever section's schema defaults of ``TEACHER_KEYS``)."""
    retriever = section_defaults("retriever")
    return EPR_WEIGHTS | {k: retriever[k] for k in TEACHER_KEYS}


def training_defaults(section: str) -> dict[str, Any]:
    """Keyword arguments of a training stage as the pipeline passes them under the default
    schema: the section (``reward``, ``retriever`` or ``epr``), ``heldback_fraction`` and,
    for the retrievers, the shared encoder settings (EPR with its loss weights)."""
    kwargs = section_defaults(section) | {"heldback_fraction": default_value("heldback_fraction")}
    if section in ("retriever", "epr"):
        models = section_defaults("models")
        kwargs |= {k: models[k] for k in ENCODER_KEYS}
    if section == "epr":
        kwargs |= epr_settings()
    return kwargs
