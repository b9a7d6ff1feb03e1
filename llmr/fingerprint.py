"""Fingerprints of llmr source code, so a rule reruns when the code it runs changes.

Snakemake tracks a rule's ``script:`` file but not the library it imports; each rule passes
``code_fingerprint(<modules it runs>)`` as a parameter instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

# Modules every stage depends on: editing them reruns everything.
GROUND_FLOOR = ("llmr.io", "llmr.records")


def module_path(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(name)
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" and spec.submodule_search_locations \
        else origin


def code_fingerprint(*modules: str) -> str:
    """Short hash of the source of ``modules`` (packages: every .py inside) + the ground floor."""
    h = hashlib.sha1()
    for name in sorted(set(modules) | set(GROUND_FLOOR)):
        path = module_path(name)
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]
