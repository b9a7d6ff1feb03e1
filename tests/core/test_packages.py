"""The package layout's rules (docs/ARCHITECTURE.md, "Packages"), read from the sources."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

LLMR = Path(__file__).resolve().parents[2] / "llmr"


def package_imports() -> dict[str, set[str]]:
    """{package: llmr packages its modules import} (module-level and inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in LLMR.rglob("*.py"):
        rel = path.relative_to(LLMR).parts
        if len(rel) < 2:
            continue  # llmr/__init__.py, llmr/cli.py: the entry points
        pkg = rel[0]
        deps = graph.setdefault(pkg, set())
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "llmr" and len(parts) > 1 and parts[1] != pkg:
                    deps.add(parts[1])
    return graph


def test_packages_import_each_other_without_cycles():
    graph = package_imports()
    assert {"core", "models", "training", "bench"} <= set(graph)
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise AssertionError(f"import cycle between llmr packages: {err.args[1]}") from None


def test_core_and_models_stay_at_the_bottom_and_bench_at_the_top():
    graph = package_imports()
    assert graph["core"] == set(), graph["core"]
    assert graph["models"] <= {"core"}, graph["models"]
    users = [pkg for pkg, deps in graph.items() if "bench" in deps]
    assert users == [], f"packages importing llmr.bench: {users}"


def test_package_inits_import_nothing():
    """A package's __init__ that imported its modules would put all of them into the code
    fingerprint of every stage that uses one."""
    for init in LLMR.glob("*/__init__.py"):
        tree = ast.parse(init.read_text())
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not imports, f"{init.relative_to(LLMR.parent)} imports {ast.unparse(imports[0])}"
