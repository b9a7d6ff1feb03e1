"""Every default written once: the stage functions the workflow scripts call, and the library
helpers that carry the method's settings, take the config's values without defaults of their
own (the schema holds them); every rule passes what its stage requires."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmr.core.schema import section_defaults, stage_defaults

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "workflow_scripts"

# stage (module.function) -> (config sources of its settings, for stage_defaults; settings it
# takes under another name or from a computed value). A new workflow script's stage must be
# added here.
STAGES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "llmr.core.io.concat_csv": ((), frozenset()),
    "llmr.data.given.import_candidates": ((), frozenset()),
    "llmr.data.resources.build_offline_model": ((), frozenset()),
    "llmr.data.resources.extract_bigbench": ((), frozenset()),
    "llmr.data.resources.fetch_package": ((), frozenset()),
    "llmr.data.tasks.hub.fetch_released": ((), frozenset({"repo_id", "revision"})),
    "llmr.data.tasks.prepare": (("suite",), frozenset()),
    "llmr.data.tasks.subsample": ((), frozenset({"max_per_task", "seed"})),
    "llmr.evaluation.agreement.agreement": (
        ("teacher", "reward", "models", "heldback_fraction", "precision"),
        frozenset({"encode_length"}),
    ),
    "llmr.evaluation.evaluate.evaluate": (("eval", "precision"), frozenset()),
    "llmr.evaluation.prompts.build_prompts": (("eval", "models"), frozenset()),
    "llmr.export.build.export_retriever": (("eval", "models"), frozenset()),
    "llmr.reporting.report.examples_html": ((), frozenset()),
    "llmr.reporting.report.summarize": (("eval",), frozenset()),
    "llmr.reporting.report.training_curves": ((), frozenset()),
    "llmr.retrieval.bm25.build_index": (("bm25",), frozenset()),
    "llmr.retrieval.bm25.search": (("bm25",), frozenset()),
    "llmr.retrieval.index.build_index": (("models", "retriever"), frozenset()),
    "llmr.retrieval.index.search": (("bm25", "models", "retriever"), frozenset()),
    "llmr.retrieval.oracle.gold_label_candidates": (("eval",), frozenset({"topk"})),
    "llmr.scoring.score.gather": ((), frozenset()),
    "llmr.scoring.score.score_shard": (("score", "precision"), frozenset()),
    "llmr.training.distill.train_retriever": (
        ("retriever", "models", "heldback_fraction"),
        frozenset(),
    ),
    "llmr.training.reward.reward_score": (("teacher", "reward", "precision"), frozenset()),
    "llmr.training.reward.train_reward": (("reward", "heldback_fraction"), frozenset()),
}
# settings a stage may default, and why
EXEMPT = {
    ("llmr.data.tasks.prepare", "template"): "the rule passes it for source original alone",
}


def _defaulted(func: Callable[..., Any], names: set[str]) -> set[str]:
    """The parameters (or dataclass fields) among ``names`` that have a default."""
    if dataclasses.is_dataclass(func):
        return {
            f.name
            for f in dataclasses.fields(func)
            if f.name in names
            and (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
        }
    params = inspect.signature(func).parameters
    return {k for k in names if k in params and params[k].default is not inspect.Parameter.empty}


def _script_calls() -> dict[str, tuple[str, set[str]]]:
    """workflow script name -> (the stage it runs, the keyword arguments the script itself
    passes); the rule's params come on top (``hyperparameters``)."""
    calls = {}
    for path in sorted(SCRIPTS.glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {
            a.asname or a.name: node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for a in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run":
                name = node.args[0].id  # type: ignore[attr-defined]
                kw = {k.arg for k in node.keywords if k.arg}
                calls[path.name] = (f"{modules[name]}.{name}", kw)
    return calls


def _stage(qualname: str) -> Callable[..., Any]:
    module, name = qualname.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _rules() -> dict[str, dict[str, Any]]:
    """rule -> {script, params (names), dynamic (``**train_params(...)`` in params)}, from
    rules/*.smk; ``use rule a as b with:`` inherits what it does not set. Other ``**`` params
    are conditional extras: they supply nothing a stage requires."""
    rules: dict[str, dict[str, Any]] = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        name, section = None, None
        for line in smk.read_text().splitlines():
            if m := re.match(r"^rule (\w+):", line):
                name, section = m[1], None
                rules[name] = {"script": None, "params": set(), "dynamic": False}
            elif m := re.match(r"^use rule (\w+) as (\w+) with:", line):
                name, section = m[2], None
                base = rules[m[1]]
                rules[name] = {**base, "params": set(base["params"]), "inherits": True}
            elif re.match(r"^\S", line):
                name = None
            elif name and (m := re.match(r"^    (\w+):", line)):
                section = m[1]
                if section == "params" and rules[name].pop("inherits", False):
                    rules[name].update(params=set(), dynamic=False)
            elif name and section == "params" and (m := re.match(r"^        (\*\*\w+|\w+)", line)):
                if m[1] == "**train_params":
                    rules[name]["dynamic"] = True
                elif not m[1].startswith("**"):
                    rules[name]["params"].add(m[1])
            elif (
                name
                and section == "script"
                and (m := re.search(r"workflow_scripts/(\w+\.py)", line))
            ):
                rules[name]["script"] = m[1]
    return {k: v for k, v in rules.items() if v["script"]}


CALLS = _script_calls()


def test_every_workflow_stage_is_listed():
    stages = {stage for stage, _ in CALLS.values()}
    assert stages == set(STAGES), stages ^ set(STAGES)


@pytest.mark.parametrize("qualname", sorted(STAGES))
def test_stage_settings_have_no_defaults(qualname):
    sources, extra = STAGES[qualname]
    func = _stage(qualname)
    settings = set(stage_defaults(func, *sources)) | extra
    assert not sources or settings, f"{qualname}: none of its parameters is a key of {sources}"
    assert extra <= set(inspect.signature(func).parameters), extra
    written_twice = _defaulted(func, settings) - {k for q, k in EXEMPT if q == qualname}
    assert not written_twice, f"{qualname}: defaults also in the config schema: {written_twice}"


def test_every_rule_passes_what_its_stage_requires():
    rules = _rules()
    assert {r["script"] for r in rules.values()} == set(CALLS), "a script without a rule"
    for rule, info in sorted(rules.items()):
        qualname, by_script = CALLS[info["script"]]
        params = inspect.signature(_stage(qualname)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        passed = info["params"] - {"code"}  # the code fingerprint is not an argument
        unknown = passed - set(params)
        assert takes_any or not unknown, f"rule {rule}: {qualname} takes no {unknown}"
        if info["dynamic"]:
            continue  # ``**train_params(...)`` and the like: tests/core/test_schema.py
        required = {
            k
            for k, p in params.items()
            if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }
        missing = required - passed - by_script
        assert not missing, f"rule {rule} passes {qualname} no {missing}"


def _helpers() -> list[tuple[Callable[..., Any], set[str]]]:
    from llmr.data.tasks.original import format_rows, load_original
    from llmr.evaluation.evaluate import _predict_task
    from llmr.evaluation.prompts import kmeans_demos
    from llmr.models.cross_encoder import score_pairs
    from llmr.models.encoder import encode_texts
    from llmr.retrieval.index import encode
    from llmr.training import distill, groups, loop, reward

    window = {"pos_top", "neg_bottom"}
    loss = {"temperature", "contrastive_weight", "kd_weight", "teacher_temperature"}
    return [
        (loop.GroupSpec, {"n_negatives", *window}),
        (groups.GroupSampler, {"n_negatives", *window, "seed"}),
        (groups.sample_group, window),
        (distill.distill_loss, loss),
        (distill.kl_group_loss, {"teacher_temperature"}),
        (distill.teacher_stats, {"teacher_temperature"}),
        (distill.retriever_task, loss | {"pooling", "query_prefix", "passage_prefix"}),
        (distill.DistillCollator, {"query_prefix", "passage_prefix"}),
        (distill.transform_teacher, {"penalty", "standardize"}),
        (reward.reward_task, {"seed"}),
        (reward.RewardCollator, {"seed"}),
        (_predict_task, {"max_length", "max_new_tokens", "token_budget"}),
        (kmeans_demos, {"seed"}),
        (score_pairs, {"max_length", "token_budget"}),
        (encode, {"prefix", "pooling", "max_length"}),
        (encode_texts, {"pooling", "max_length"}),
        (load_original, {"template"}),
        (format_rows, {"template"}),
    ]


@pytest.mark.parametrize("helper, names", _helpers(), ids=lambda x: getattr(x, "__name__", ""))
def test_helpers_take_the_settings_without_defaults(helper, names):
    fields = (
        {f.name for f in dataclasses.fields(helper)}
        if dataclasses.is_dataclass(helper)
        else set(inspect.signature(helper).parameters)
    )
    assert names <= fields, names - fields  # the list is not stale
    assert not _defaulted(helper, names), _defaulted(helper, names)


def test_the_checks_catch_a_default():
    def stage(out: str, k: int = 8, seed: int = 42, *, n_retrieve_factor: int) -> None: ...

    settings = set(stage_defaults(stage, "eval"))
    assert settings == {"k", "seed", "n_retrieve_factor"}
    assert _defaulted(stage, settings) == {"k", "seed"}


def test_stage_defaults_takes_the_first_source_with_a_key():
    from llmr.training.reward import reward_score

    got = stage_defaults(reward_score, "teacher", "reward", "precision")
    teacher, rm = section_defaults("teacher"), section_defaults("reward")
    assert got == {
        "topk": teacher["topk"],
        "token_budget": teacher["token_budget"],  # not the reward section's
        "llm_scored_only": teacher["llm_scored_only"],
        "max_length": rm["max_length"],
        "precision": "auto",
    }
