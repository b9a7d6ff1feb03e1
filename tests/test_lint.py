"""Lint: ruff on the code, snakefmt and snakemake --lint on the workflow, and no test-only
code in the llmr package."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def test_ruff_clean():
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_clean():
    """Every Python file is as ``ruff format`` writes it (run it before committing)."""
    proc = subprocess.run(
        [_tool("ruff"), "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_clean():
    """Snakefile and rules/*.smk are as snakefmt formats them (``snakefmt Snakefile rules/``;
    line length from pyproject.toml)."""
    proc = subprocess.run(
        [_tool("snakefmt"), "--check", "Snakefile", "rules/"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, (
        f"run `snakefmt Snakefile rules/` to format:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    )


def test_llmr_ships_no_test_code():
    """Test-only helpers (tiny models, the tiny suite, synthetic scores, the workflow-test
    runner) live in tests/helpers/, not in the package."""
    found = []
    for path in sorted((REPO / "llmr").rglob("*.py")):
        text = path.read_text()
        if path.stem.startswith("testing") or re.search(
            r"^\s*(import pytest|from (pytest|helpers)\b)", text, re.M
        ):
            found.append(str(path.relative_to(REPO)))
    assert found == []


def test_snakemake_lint_clean():
    """Clean but for the one expected finding: jobs run in the one project environment, so
    no rule names a conda env or container (docs/CLUSTER.md, "One environment for every job")."""
    proc = subprocess.run([_tool("snakemake"), "--lint"], cwd=REPO, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    findings = set(re.findall(r"^\s+\* (.+?):?$", out, re.M))
    expected = {"Specify a conda environment or container for each rule."}
    assert findings <= expected, out[-4000:]
    assert proc.returncode == 0 or findings, out[-4000:]  # a failure that is not a lint


def test_every_rule_has_log_and_benchmark():
    text = "\n".join(p.read_text() for p in sorted((REPO / "rules").glob("*.smk")))
    blocks = [b for b in text.split("\nrule ")[1:]]
    assert blocks
    for block in blocks:
        name = block.split(":")[0]
        body = block.split("\nrule ")[0]
        assert "log:" in body and "benchmark:" in body, f"rule {name} lacks log: or benchmark:"


def _report_calls(text: str) -> list[str]:
    """The argument texts of the ``report(...)`` calls in workflow source ``text``."""
    calls = []
    for m in re.finditer(r"\breport\(", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        calls.append(text[m.end() : i - 1])
    return calls


def test_every_report_output_has_a_caption():
    """Every output marked ``report(...)`` names a caption .rst under report/ that exists."""
    found = 0
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for call in _report_calls(path.read_text()):
            found += 1
            m = re.search(r'caption="([^"]+)"', call)
            assert m, f"{path.name}: report({call.strip()}) has no caption"
            caption = (path.parent / m.group(1)).resolve()
            assert caption.parent == REPO / "report" and caption.is_file(), (path.name, caption)
    assert found >= 5
