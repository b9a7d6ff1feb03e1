"""Fingerprints of llmr source code, so a rule reruns when the code it runs changes.

Snakemake tracks a rule's ``script:`` file but not the library it imports. Each rule passes
``script_fingerprint(<its workflow script>)`` as a parameter instead: a hash of the source
of every llmr module the script imports, directly or through other llmr modules. The
imports are read from the source with ``ast`` (nothing is imported), at module level and
inside functions: ``import llmr.x``, ``from llmr.x import y``, ``from llmr import x`` and
relative imports. Importing ``llmr.a.b`` also runs the packages ``llmr`` and ``llmr.a``, so
their ``__init__.py`` count too. Not followed: imports under ``if TYPE_CHECKING:`` (they
never run) and the lazy imports of a package's module-level ``__getattr__`` (PEP 562),
which run only when a name the package does not define is taken from it
(``from llmr import Retriever``); then they are followed.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PACKAGE = "llmr"
# The folder that holds the llmr package (the repository root in a checkout).
DEFAULT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class _Imports:
    """What one source file imports: ``(module, names)`` pairs, absolute module names
    (``names`` are the ``from module import ...`` names, empty for ``import module``)."""

    eager: tuple[tuple[str, tuple[str, ...]], ...] = ()
    lazy: tuple[tuple[str, tuple[str, ...]], ...] = ()  # inside a module __getattr__
    defined: frozenset[str] = field(default_factory=frozenset)  # top-level names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """The absolute module name of a ``from ... import`` (relative ones resolved)."""
    if not node.level:
        return node.module
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]  # a module's relative imports start from its package
    up = node.level - 1
    if up > len(parts) or not parts:
        return None  # beyond the top-level package: not llmr's
    base = parts[: len(parts) - up]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def _parse(source: bytes, module: str, is_package: bool) -> _Imports:
    tree = ast.parse(source)
    eager: list[tuple[str, tuple[str, ...]]] = []
    lazy: list[tuple[str, tuple[str, ...]]] = []
    defined: set[str] = set()

    def visit(node: ast.AST, out: list) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, out)
            return
        if isinstance(node, ast.Import):
            out.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = _absolute(node, module, is_package)
            if name:
                out.append((name, tuple(alias.name for alias in node.names)))
        for child in ast.iter_child_nodes(node):
            visit(child, out)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            visit(node, lazy)
        else:
            visit(node, eager)
    return _Imports(tuple(eager), tuple(lazy), frozenset(defined))


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of llmr module ``name`` under ``root`` (a package: its __init__.py)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = root.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def import_closure(script: str | Path, root: str | Path = DEFAULT_ROOT) -> list[Path]:
    """Source files of every llmr module that ``script`` imports, transitively, sorted.

    ``root`` is the folder that holds the ``llmr`` package; ``script`` is read as a
    top-level script (its own relative imports, if any, are not llmr's).
    """
    root = Path(root).resolve()
    files: set[Path] = set()
    lazy_done: set[str] = set()
    pending: list[tuple[str, tuple[str, ...]]] = list(
        _parse(Path(script).read_bytes(), "", False).eager
    )

    def module_imports(name: str) -> _Imports | None:
        path = _module_file(name, root)
        if path is None:
            return None
        return _parse(path.read_bytes(), name, path.name == "__init__.py")

    def add(name: str) -> bool:
        """Add module ``name`` and its parent packages; False if it is no llmr module."""
        parts = name.split(".")
        found = False
        for i in range(1, len(parts) + 1):
            path = _module_file(".".join(parts[:i]), root)
            if path is None:
                continue
            found = found or i == len(parts)
            if path not in files:
                files.add(path)
                imports = module_imports(".".join(parts[:i]))
                pending.extend(imports.eager)
        return found

    while pending:
        name, names = pending.pop()
        if not add(name):
            continue
        imports = module_imports(name)
        for attr in names:
            if attr == "*" or add(f"{name}.{attr}"):
                continue  # a submodule (or a star import: the module itself)
            if attr not in imports.defined and name not in lazy_done:
                lazy_done.add(name)  # a lazy attribute: its __getattr__ imports run
                pending.extend(imports.lazy)
    return sorted(files)


def script_fingerprint(script: str | Path, root: str | Path = DEFAULT_ROOT) -> str:
    """Short hash of the sources of the llmr modules ``script`` imports, transitively
    (``import_closure``); the script itself is tracked by Snakemake."""
    root = Path(root).resolve()
    h = hashlib.sha1()
    for path in import_closure(script, root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]
