"""Code fingerprints follow the import graph: a stage's fingerprint changes exactly when an
llmr module its workflow script imports (transitively) changes, and every rule derives its
fingerprint from its own ``script:``."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from llmr.core.fingerprint import import_closure, script_fingerprint

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow_scripts"
SEARCH = ["bm25_index.py", "bm25_search.py", "dense_index.py", "dense_search.py"]
TRAINING = ["train_reward.py", "reward_score.py", "train_retriever.py"]


@pytest.fixture
def copy(tmp_path):
    """A copy of the llmr package in a temp folder (the root fingerprints are taken from)."""
    shutil.copytree(REPO / "llmr", tmp_path / "llmr", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def prints(root: Path, scripts: list[str]) -> dict[str, str]:
    return {s: script_fingerprint(SCRIPTS / s, root) for s in scripts}


def edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# edited\n")


def test_editing_candidates_changes_the_search_stages(copy):
    before = prints(copy, SEARCH + TRAINING + ["summary.py"])
    edit(copy / "llmr" / "retrieval" / "candidates.py")
    after = prints(copy, SEARCH + TRAINING + ["summary.py"])
    for s in SEARCH:
        assert after[s] != before[s], f"{s} does not depend on llmr/retrieval/candidates.py"
    for s in [*TRAINING, "summary.py"]:
        assert after[s] == before[s], (
            f"{s} changed although it never imports llmr.retrieval.candidates"
        )


def test_editing_report_changes_the_report_stages_not_training(copy):
    scripts = TRAINING + ["summary.py", "training_curves.py", "report_examples.py"]
    before = prints(copy, scripts)
    edit(copy / "llmr" / "reporting" / "report.py")
    after = prints(copy, scripts)
    for s in TRAINING:
        assert after[s] == before[s], f"{s} changed with llmr/reporting/report.py"
    for s in ["summary.py", "training_curves.py", "report_examples.py"]:
        assert after[s] != before[s]


def test_function_level_and_transitive_imports_count(copy):
    # llm_eval imports llmr.evaluation.evaluate, which imports llmr.models.lm only inside functions;
    # train_retriever reaches llmr.models.lm through llmr.training.distill -> llmr.scoring.score.
    before = prints(copy, ["llm_eval.py", "train_retriever.py", "summary.py"])
    edit(copy / "llmr" / "models" / "lm.py")
    after = prints(copy, ["llm_eval.py", "train_retriever.py", "summary.py"])
    assert after["llm_eval.py"] != before["llm_eval.py"]
    assert after["train_retriever.py"] != before["train_retriever.py"]
    assert after["summary.py"] == before["summary.py"]


def test_subpackage_modules_count_and_unrelated_new_files_do_not(copy):
    before = prints(copy, ["prepare.py", "bm25_search.py"])
    edit(copy / "llmr" / "data" / "tasks" / "bigbench.py")
    after = prints(copy, ["prepare.py", "bm25_search.py"])
    assert after["prepare.py"] != before["prepare.py"]
    assert after["bm25_search.py"] == before["bm25_search.py"]
    (copy / "llmr" / "unused_module.py").write_text("x = 1\n")
    assert prints(copy, ["prepare.py", "bm25_search.py"]) == after


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def names(root: Path, script: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in import_closure(script, root)]


def test_import_forms_are_resolved(tmp_path):
    write(
        tmp_path,
        {
            "llmr/__init__.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from llmr.typed import T
            def __getattr__(name):
                from llmr.lazy import Thing
                return Thing
        """,
            "llmr/a.py": "from . import b\nfrom .pkg.c import f\n",
            "llmr/b.py": "import llmr.pkg\n",
            "llmr/pkg/__init__.py": "from .d import g\n",
            "llmr/pkg/c.py": "def f():\n    from ..e import h\n",
            "llmr/pkg/d.py": "from .. import io\n",
            "llmr/e.py": "",
            "llmr/io.py": "",
            "llmr/typed.py": "",
            "llmr/lazy.py": "",
            "llmr/unused.py": "",
            "script.py": "from llmr.a import b\n",
            "lazy_script.py": "from llmr import Thing\n",
            "plain_script.py": "import llmr.e\n",
        },
    )
    assert names(tmp_path, tmp_path / "script.py") == [
        "llmr/__init__.py",
        "llmr/a.py",
        "llmr/b.py",
        "llmr/e.py",
        "llmr/io.py",
        "llmr/pkg/__init__.py",
        "llmr/pkg/c.py",
        "llmr/pkg/d.py",
    ]
    # TYPE_CHECKING imports never run; __getattr__'s only when a lazy name is taken
    assert names(tmp_path, tmp_path / "plain_script.py") == ["llmr/__init__.py", "llmr/e.py"]
    assert names(tmp_path, tmp_path / "lazy_script.py") == ["llmr/__init__.py", "llmr/lazy.py"]


def rule_blocks() -> dict[str, tuple[str, str | None, str]]:
    """rule name -> (its text, the rule it is derived from with ``use rule``, file)."""
    blocks = {}
    start = re.compile(r"^(?:rule (\w+)|use rule (\w+) as (\w+) with):", re.M)
    for f in sorted((REPO / "rules").glob("*.smk")):
        text = f.read_text()
        found = list(start.finditer(text))
        for m, nxt in zip(found, [*found[1:], None], strict=False):
            body = text[m.end() : nxt.start() if nxt else len(text)]
            if m.group(1):
                blocks[m.group(1)] = (body, None, f.name)
            else:
                blocks[m.group(3)] = (body, m.group(2), f.name)
    return blocks


def test_every_rule_fingerprints_its_own_script():
    blocks = rule_blocks()

    def script_of(rule: str) -> str | None:
        body, base, _ = blocks[rule]
        m = re.search(r"^    script:\s*\n\s*\"([^\"]+)\"", body, re.M)
        if m:
            return Path(m.group(1)).name
        return script_of(base) if base else None

    def code_of(rule: str) -> str | None:
        body, base, _ = blocks[rule]
        if re.search(r"^    params:", body, re.M):
            m = re.search(r"code=script_code\(\"([^\"]+)\"\)", body)
            return m.group(1) if m else None
        return code_of(base) if base else None

    assert len(blocks) >= 30
    bad = []
    for rule in blocks:
        script = script_of(rule)
        assert script, f"rule {rule} has no script: fingerprint the llmr code it calls"
        assert (SCRIPTS / script).is_file(), script
        if code_of(rule) != script:
            bad.append(f"{rule}: script {script}, code={code_of(rule)}")
    assert not bad, f"rules whose code fingerprint is not their script's: {bad}"
    text = "".join((REPO / "rules" / f).read_text() for f in {b[2] for b in blocks.values()})
    assert not re.search(r"(?<![\w])fingerprint\(", text), "a hand-kept fingerprint list is left"
