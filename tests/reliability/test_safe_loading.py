"""Nothing from a data file is ever executed: a static scan of llmr/ for loaders that can run
code (pickle, torch.load without weights_only, np.load with pickles, eval/exec, remote code,
unsafe YAML), and atomic writers everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LLMR = Path(__file__).resolve().parents[2] / "llmr"
SOURCES = sorted(LLMR.rglob("*.py"))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            yield node, owner, name, kwargs


def _true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_loads(source: str) -> list[str]:
    """Descriptions of the code-executing loads in one module's source."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(m.split(".")[0] in ("pickle", "dill", "cloudpickle", "joblib") for m in mods):
                found.append(f"line {node.lineno}: imports a pickle module")
    for node, owner, name, kw in _calls(tree):
        where = f"line {node.lineno}"
        if owner == "torch" and name == "load" and not _true(kw.get("weights_only")):
            found.append(f"{where}: torch.load without weights_only=True")
        if owner in ("np", "numpy") and name == "load" and _true(kw.get("allow_pickle")):
            found.append(f"{where}: np.load(allow_pickle=True)")
        if (
            owner == ""
            and name in ("eval", "exec", "compile")
            and node.args
            and not isinstance(node.args[0], ast.Constant)
        ):
            found.append(f"{where}: {name}() of non-literal text")
        if _true(kw.get("trust_remote_code")):
            found.append(f"{where}: trust_remote_code=True")
        if owner == "yaml" and name in ("load", "unsafe_load", "full_load"):
            found.append(f"{where}: yaml.{name} (use yaml.safe_load)")
        if (
            name == "save_pretrained"
            and isinstance(kw.get("safe_serialization"), ast.Constant)
            and kw["safe_serialization"].value is False
        ):
            found.append(f"{where}: save_pretrained(safe_serialization=False)")
    return found


def test_scanner_catches_unsafe_loads():
    bad = (
        "import pickle\nimport torch, numpy as np, yaml\n"
        "torch.load(p)\nnp.load(p, allow_pickle=True)\neval(text)\n"
        "M.from_pretrained(p, trust_remote_code=True)\nyaml.load(s)\n"
        "m.save_pretrained(d, safe_serialization=False)\n"
    )
    assert len(unsafe_loads(bad)) == 7
    ok = "torch.load(p, weights_only=True)\nnp.load(p)\nyaml.safe_load(s)\nmodel.eval()\n"
    assert unsafe_loads(ok) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(LLMR)))
def test_no_code_executing_loads(path):
    assert unsafe_loads(path.read_text()) == [], path


def test_writers_are_atomic():
    """Artifacts are written through llmr.core.io (temporary name, then rename): no module writes
    a DataFrame or a model straight to its final path."""
    direct = []
    for path in SOURCES:
        if path == LLMR / "core" / "io.py":  # the atomic writers themselves
            continue
        tree = ast.parse(path.read_text())
        for node, _, name, _ in _calls(tree):
            if (
                name in ("to_parquet", "to_csv")
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id not in ("tmp", "dst", "target")
            ):
                direct.append(f"{path.relative_to(LLMR)}:{node.lineno} {name}({node.args[0].id})")
    assert direct == []
