"""Config defaults live in one place: the schema. Every key the rules read has a default
there (or is required), and a minimal config validates to the full set of keys."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from snakemake.utils import validate

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "config.schema.yaml"
ALIASES = {"SUITE": ["suite"], "EVAL": ["eval"], "GIVEN": ["given"]}
ACCESS = re.compile(r"\b(config|SUITE|EVAL|GIVEN)((?:\[\"[a-z_0-9]+\"\])+)")


def rule_keys() -> set[tuple[str, ...]]:
    """Config key paths read in the Snakefile and rules/*.smk (``x["a"]["b"]`` forms)."""
    keys = set()
    for f in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for root, chain in ACCESS.findall(f.read_text()):
            path = tuple(re.findall(r'"([a-z_0-9]+)"', chain))
            keys.add(tuple(ALIASES.get(root, [])) + path)
    return keys


def schema_node(schema: dict, path: tuple[str, ...]) -> dict | None:
    node = schema
    for k in path:
        props = node.get("properties", {})
        if k not in props:
            return None
        node = props[k]
    return node


def test_every_key_the_rules_read_has_a_schema_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    missing, no_default = [], []
    for path in sorted(rule_keys()):
        if not path or path[0] in ("offline_models",):
            continue  # a user-named map: its entries are not schema keys
        node = schema_node(schema, path)
        if node is None:
            missing.append(".".join(path))
            continue
        parent = schema_node(schema, path[:-1]) or schema
        if "default" not in node and path[-1] not in parent.get("required", []):
            no_default.append(".".join(path))
    assert not missing, f"keys read by the rules but not in the schema: {missing}"
    assert not no_default, f"optional keys without a schema default: {no_default}"


def test_minimal_config_gets_every_default():
    cfg = {
        "suite": {"source": "bigbench", "tasks": ["a"], "held_out": []},
        "models": {"llm": "x", "encoder": "y", "reward_init": "z"},
        "offline_models": {},
    }
    validate(cfg, str(SCHEMA))
    for path in rule_keys():
        if path and path[0] != "offline_models" and path[0] in cfg:
            node = cfg
            for k in path:
                assert k in node, f"{'.'.join(path)} not filled by the schema defaults"
                node = node[k]


def _key_paths(node: dict, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    paths = set()
    for k, v in node.items():
        paths.add((*prefix, k))
        if isinstance(v, dict):
            paths |= _key_paths(v, (*prefix, k))
    return paths


def test_tiny_test_config_validates_and_sets_every_key_of_config_yaml():
    """.test/config.yaml (the workflow tests' tiny config, loaded by tests/helpers/workflow.py)
    is a valid config that sets every key config.yaml sets: a new setting of the default
    experiment is not silently left to its schema default in the tests."""
    tiny = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    missing = sorted(".".join(p) for p in _key_paths(default) - _key_paths(tiny))
    assert missing == [], f"keys of config.yaml missing from .test/config.yaml: {missing}"
    validate(tiny, str(SCHEMA))
