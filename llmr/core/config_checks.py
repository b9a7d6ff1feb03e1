"""Config checks the JSON schema cannot express, run by ``rules/common.smk`` before any job.

- :func:`check_config_files`: every config file Snakemake loaded (``config.yaml`` and each
  ``--configfile``) is re-read as plain data: a duplicate key (e.g. a second ``eval:``
  block, which YAML silently lets replace the first) and Snakemake's YTE templating
  (``__use_yte__``) are refused.
- :func:`check_config`: values that contradict each other (each message names both keys),
  names that are not suite tasks, ``package:`` specs that are not requirement specifiers,
  and ``given.*`` files that do not exist (given files are inputs: they exist or the run
  stops).

Each check raises :class:`ConfigError` (a ValueError) with one message naming the key(s)
and the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# files a rule of this workflow makes (rules/hub.smk, fetch_released): a given.* path may
# name one of them before it exists
RELEASED_FILES = ("train", "test", "passages", "bm25_train", "kd_bm25_train", "kd_it2_train")


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key(s) and the fix."""


# ------------------------------------------------------------------------- config files


def _yaml_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """yaml.SafeLoader refusing a key given twice in one mapping."""

    def construct_mapping(loader, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:  # the mapping's own keys (before merging `<<:`)
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader refuses an unhashable key itself
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{loader.name}: line {line}: duplicate key {key!r} (also on "
                    f"line {seen[key]}); YAML keeps only the last one, so the "
                    "first block would be silently ignored: merge them"
                )
            seen[key] = line
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    UniqueKeyLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping
    )
    return UniqueKeyLoader


def _json_pairs(path: str):
    def hook(pairs):
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ConfigError(
                    f"{path}: duplicate key {key!r}; JSON keeps only the last "
                    "one, so the first would be silently ignored: merge them"
                )
            out[key] = value
        return out

    return hook


def load_config_file(path: str | os.PathLike) -> Any:
    """A config file (JSON or YAML) as plain data; ConfigError for a duplicate key."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text, object_pairs_hook=_json_pairs(str(path)))
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
    loader = _yaml_loader()(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    finally:
        loader.dispose()


def check_config_files(paths: Iterable[str | os.PathLike]) -> None:
    """Refuse duplicate keys and YTE templating in each config file Snakemake loaded."""
    for path in paths:
        if not Path(path).is_file():
            continue
        data = load_config_file(path)
        if isinstance(data, Mapping) and "__use_yte__" in data:
            raise ConfigError(
                f"{path}: __use_yte__ (Snakemake's YAML templating) is not accepted: a template "
                "runs Python while the file is read, even in a dry run. Note that Snakemake "
                "evaluated it before this check; write plain values instead, and never load "
                "a config file you would not run as a script"
            )


# ------------------------------------------------------------------------- values


def _fail(msg: str) -> None:
    raise ConfigError(f"config: {msg}")


def check_requirement(spec: Any, key: str) -> None:
    """``spec`` must be one PEP 508 requirement (``name==version``), never a pip option."""
    from packaging.requirements import InvalidRequirement, Requirement

    if not isinstance(spec, str) or not spec.strip() or spec.lstrip().startswith("-"):
        _fail(
            f"{key}: {spec!r} is not a package requirement (e.g. 'name==1.0'); a value "
            "starting with '-' would reach pip as an option"
        )
    try:
        req = Requirement(spec)
    except InvalidRequirement as e:
        _fail(f"{key}: {spec!r} is not a package requirement ({e})")
    if req.url:
        _fail(f"{key}: {spec!r} is a direct URL; give a name and version from the index")


def _given_paths(given: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key in ("candidates", "scores"):
        if given.get(key):
            out.append((f"given.{key}", given[key]))
    for i, path in enumerate(given.get("teacher") or []):
        out.append((f"given.teacher[{i}]", path))
    return out


def _made_by_a_rule(path: str) -> bool:
    p = Path(os.path.normpath(path))
    return (
        len(p.parts) == 3
        and p.parts[:2] == ("resources", "released")
        and p.name in {f"{n}.jsonl.gz" for n in RELEASED_FILES}
    )


def _check_inputs(config: Mapping[str, Any], workdir: Path) -> None:
    """The suite's source folders and the local model folders the config names exist."""
    suite = config["suite"]
    if suite.get("source") == "released" and not suite.get("released_dir"):
        _fail("suite.source is 'released' but suite.released_dir is not set")
    folder = suite.get("original_dir")
    if suite.get("source") == "original" and folder and not (workdir / folder).is_dir():
        _fail(f"suite.original_dir: no folder {folder!r}")
    offline = config.get("offline_models", {})
    for key in ("llm", "encoder", "reward_init"):
        name = str(config.get("models", {}).get(key, ""))
        local = os.path.isabs(name) or name.startswith((".", "~"))
        if name and name not in offline and local:
            if not (workdir / os.path.expanduser(name)).exists():
                _fail(f"models.{key}: local model path {name!r} does not exist")


def check_config(config: Mapping[str, Any], workdir: str | os.PathLike = ".") -> None:
    """Cross-key checks of a schema-valid config (defaults filled in); ConfigError names
    both keys of a contradiction."""
    suite, ev = config["suite"], config.get("eval", {})
    tasks, held = list(suite["tasks"]), list(suite.get("held_out", []))
    unknown = [t for t in held if t not in tasks]
    if unknown:
        _fail(f"suite.held_out names tasks not in suite.tasks: {sorted(unknown)}")
    if tasks and set(tasks) <= set(held):
        _fail(
            f"suite.held_out holds every task of suite.tasks ({tasks}): no task is left to "
            "train the reward model and the retriever on; hold out fewer tasks"
        )
    for key in ("task_types", "task_metrics"):
        unknown = [t for t in suite.get(key, {}) if t not in tasks]
        if unknown:
            _fail(
                f"suite.{key} names task(s) not in suite.tasks: {sorted(unknown)} "
                f"(suite.tasks: {tasks})"
            )

    _check_inputs(config, Path(workdir))
    for name, spec in config.get("offline_models", {}).items():
        check_requirement(spec.get("package"), f"offline_models.{name}.package")
    if "bigbench_package" in config:
        check_requirement(config["bigbench_package"], "bigbench_package")

    given = config.get("given", {})
    for key, path in _given_paths(given):
        full = Path(workdir, os.path.expanduser(path))
        if not full.is_file() and not _made_by_a_rule(path):
            _fail(
                f"{key}: no file {path!r}; a given file is an input that must exist (fix the "
                f"path, or remove {key} to compute that stage)"
            )

    if "retrievers" in ev and not ev["retrievers"] and not ev.get("extra_retrievers"):
        _fail(
            "eval.retrievers is empty and there are no eval.extra_retrievers: nothing would "
            "be evaluated"
        )

    rounds = int(config.get("rounds", 1))
    bm25, score = config.get("bm25", {}), config.get("score", {})
    teacher = config.get("teacher", {})
    # round 0's candidates are BM25's unless given; every later round searches bm25.topk
    bm25_cands = not given.get("candidates") or rounds > 1
    if bm25_cands and "topk" in bm25:
        if "n_candidates" in score and score["n_candidates"] > bm25["topk"]:
            _fail(
                f"score.n_candidates ({score['n_candidates']}) > bm25.topk ({bm25['topk']}): "
                "a query has only bm25.topk candidates to score; lower score.n_candidates "
                "or raise bm25.topk"
            )
        if (
            "topk" in teacher
            and teacher["topk"] > bm25["topk"]
            and not teacher.get("llm_scored_only")
        ):
            _fail(
                f"teacher.topk ({teacher['topk']}) > bm25.topk ({bm25['topk']}): a query has "
                "only bm25.topk candidates to label; lower teacher.topk or raise bm25.topk"
            )
    n_scored = score.get("n_candidates")
    if n_scored is not None and (not given.get("scores") or rounds > 1):
        for section in ("reward", "epr"):
            pos = config.get(section, {}).get("pos_top")
            if pos is not None and pos >= n_scored:
                _fail(
                    f"{section}.pos_top ({pos}) >= score.n_candidates ({n_scored}): every "
                    "scored candidate would be a positive, leaving no negatives; lower "
                    f"{section}.pos_top or raise score.n_candidates"
                )
    for section in ("reward", "retriever", "epr"):
        sec = config.get(section, {})
        n_neg, bottom = sec.get("n_negatives"), sec.get("neg_bottom")
        if n_neg is not None and bottom is not None and n_neg > bottom:
            _fail(
                f"{section}.n_negatives ({n_neg}) > {section}.neg_bottom ({bottom}): negatives "
                f"come from the {bottom} worst candidates, so every group would be topped up "
                f"with random passages; lower {section}.n_negatives or raise "
                f"{section}.neg_bottom"
            )
    pos = config.get("retriever", {}).get("pos_top")
    if (
        pos is not None
        and "topk" in teacher
        and pos >= teacher["topk"]
        and not teacher.get("llm_scored_only")
        and not given.get("teacher")
    ):
        _fail(
            f"retriever.pos_top ({pos}) >= teacher.topk ({teacher['topk']}): every labelled "
            "candidate would be a positive, leaving no negatives"
        )

    k = ev.get("k")
    cap = suite.get("max_train_per_task")
    if k is not None and suite.get("source") == "bigbench" and cap:
        pool = cap * len(tasks)
        if k > pool:
            _fail(
                f"eval.k ({k}) is above the demonstration pool: suite.max_train_per_task "
                f"({cap}) x {len(tasks)} task(s) = at most {pool} passages; lower eval.k or "
                "raise suite.max_train_per_task"
            )
