"""The documentation holds together: links resolve inside the repository, the README's Layout
names every package and module, and docs/CONFIGURATION.md matches the config schema."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")


def _config_reference():
    spec = importlib.util.spec_from_file_location(
        "config_reference", REPO / "scripts" / "config_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def links(page: Path) -> list[str]:
    """Targets of the markdown links of a page, outside code blocks and code spans."""
    text = CODE.sub("", FENCE.sub("", page.read_text()))
    return LINK.findall(text)


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section (up to the next level-2 heading)."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"no '## {heading}' section"
    return m.group(1)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve_inside_the_repository(page):
    bad = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor in the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(REPO):
            bad.append(f"{target} (outside the repository)")
        elif not path.exists():
            bad.append(f"{target} (no such file)")
    assert not bad, f"{page.relative_to(REPO)}: broken links: {bad}"


def test_link_finder_sees_links_and_skips_code():
    page = REPO / "README.md"
    assert "docs/CONFIGURATION.md" in links(page)
    assert not LINK.findall(CODE.sub("", "`[a](nowhere.md)`"))


def test_layout_names_every_llmr_module_and_every_top_level_folder():
    layout = section((REPO / "README.md").read_text(), "Layout")
    words = {w.rstrip("/") for w in re.findall(r"[\w.\-/]+", layout)}

    def entries(folder: Path) -> list[Path]:
        return [
            p
            for p in sorted(folder.iterdir())
            if p.name != "__pycache__" and (p.suffix == ".py" or (p / "__init__.py").exists())
        ]

    llmr = entries(REPO / "llmr")
    missing = [p.name for p in llmr if p.name not in words]
    assert not missing, f"README Layout does not name llmr/ entries: {missing}"
    # and each package's modules and subpackages, by name (``core/``: io, records, ...)
    inner = [q for p in llmr if p.is_dir() for q in entries(p) if q.name != "__init__.py"]
    missing = [f"{q.parent.name}/{q.name}" for q in inner if q.stem not in words]
    assert not missing, f"README Layout does not name the package modules: {missing}"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    folders = sorted({f.split("/", 1)[0] for f in tracked if "/" in f})
    if not folders:
        pytest.skip("not a git checkout")
    raw = re.findall(r"[\w.\-/]+", layout)
    missing = [n for n in folders if not any(w == n or w.startswith(n + "/") for w in raw)]
    assert not missing, f"README Layout does not name top-level folders: {missing}"


def test_configuration_reference_is_generated_from_the_schema():
    ref = _config_reference()
    page = (REPO / "docs" / "CONFIGURATION.md").read_text()
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    assert ref.rewrite(page, schema) == page, (
        "docs/CONFIGURATION.md's key reference differs from schemas/config.schema.yaml: "
        "run python scripts/config_reference.py"
    )


def _schema_paths(schema: dict) -> set[str]:
    """Every key path of the schema, leaves and sections (``bm25``, ``bm25.k1``, ...)."""
    paths = set()
    for key, _, _ in _config_reference().leaf_keys(schema):
        parts = key.split(".")
        paths.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return paths


def documented_keys(page: str) -> list[str]:
    """Keys in the first column of every table of the page: ``a.b``, ``a.*``, ``*.b``, and
    ``a.b`` / ``c`` (``c`` a sibling of ``b``)."""
    keys = []
    for line in page.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split(" | ", 1)[0]
        names = re.findall(r"`([^`]+)`", first)
        parent = ""
        for name in names:
            if "." not in name and parent:
                name = f"{parent}.{name}"
            parent = name.rsplit(".", 1)[0] if "." in name else parent
            keys.append(name)
    return keys


def test_every_key_documented_in_configuration_is_in_the_schema_and_vice_versa():
    page = (REPO / "docs" / "CONFIGURATION.md").read_text()
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    paths = _schema_paths(schema)
    documented = documented_keys(page)
    unknown = [k for k in documented if not fnmatch.filter(paths, k)]
    assert not unknown, f"docs/CONFIGURATION.md documents keys the schema lacks: {unknown}"
    leaves = [key for key, _, _ in _config_reference().leaf_keys(schema)]
    undocumented = [k for k in leaves if k not in documented]
    assert not undocumented, f"schema keys missing from docs/CONFIGURATION.md: {undocumented}"


def test_documented_keys_parser():
    page = "| `suite.max_train_per_task` / `max_test_per_task` | x |\n| `*.token_budget` | y |\n"
    assert documented_keys(page) == [
        "suite.max_train_per_task",
        "suite.max_test_per_task",
        "*.token_budget",
    ]
