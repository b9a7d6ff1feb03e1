"""Config defaults live in one place: the schema. Every key the rules read has a default
there (or is required), and a minimal config validates to the full set of keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

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


OVERLAYS = [REPO / ".test" / "config.yaml", *sorted((REPO / "config").glob("*.yaml"))]


def _leaves(node: dict, prefix: tuple[str, ...] = ()):
    """(key path, value) of every leaf of a nested config (an empty map is a leaf)."""
    for k, v in node.items():
        if isinstance(v, dict) and v:
            yield from _leaves(v, (*prefix, k))
        else:
            yield (*prefix, k), v


def _effective_default() -> dict:
    """config.yaml with the schema's defaults filled in: what an overlay is merged over."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(cfg, str(SCHEMA))  # fills the defaults in place
    return cfg


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_overlay_configs_hold_only_what_differs_and_validate(overlay):
    """.test/config.yaml and config/*.yaml are overlays of config.yaml (Snakemake merges
    ``--configfile`` over it; the tests' tiny_config() does the same): a key that repeats the
    value it would get anyway is a second copy of a default, and fails here. Merged, each
    overlay is a valid config."""
    base = _effective_default()
    text = yaml.safe_load(overlay.read_text()) or {}
    repeats = []
    for path, value in _leaves(text):
        node = base
        for k in path:
            node = node.get(k, _MISSING) if isinstance(node, dict) else _MISSING
        if node == value:
            repeats.append(".".join(path))
    assert not repeats, f"{overlay.name} repeats the value config.yaml gives: {repeats}"
    merged = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(merged, text)
    validate(merged, str(SCHEMA))


_MISSING = object()
