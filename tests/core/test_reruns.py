"""A failed rerun leaves its output missing: what was built from the old one reruns
(llmr.core.reruns), under the real Snakemake; temp files and hand-deleted intermediates
keep Snakemake's own behaviour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llmr.core.reruns import STALE, mark_stale_outputs, read_records, stale_outputs

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = """
from llmr.core.reruns import mark_stale_outputs

mark_stale_outputs()


rule all:
    input:
        "c.txt",


rule a:
    output:
        "a.txt",
    params:
        value=config.get("value", 1),
    shell:
        "test ! -e fail || exit 1; echo {params.value} > {output}"


rule b:
    input:
        "a.txt",
    output:
        temp("b.txt"),
    shell:
        "cat {input} > {output}"


rule c:
    input:
        "b.txt",
    output:
        "c.txt",
    shell:
        "cat {input} > {output}"
"""


def smk(wd: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "snakemake"
    return subprocess.run(
        [str(exe), "--cores", "1", *args],
        cwd=wd,
        capture_output=True,
        text=True,
        env={"PATH": f"{exe.parent}:/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(wd)},
    )


def workflow(tmp_path: Path) -> Path:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    assert smk(tmp_path).returncode == 0
    assert (tmp_path / "c.txt").read_text() == "1\n"
    assert not (tmp_path / "b.txt").exists()  # temp: removed once c.txt was built
    return tmp_path


def test_records_name_their_outputs(tmp_path):
    wd = workflow(tmp_path)
    records = read_records(wd)
    assert {"a.txt", "b.txt", "c.txt"} <= set(records)
    assert records["c.txt"].inputs == ("b.txt",)
    assert records["a.txt"].end <= records["b.txt"].start <= records["c.txt"].start


def test_temp_and_hand_deleted_files_rerun_nothing(tmp_path):
    wd = workflow(tmp_path)
    assert stale_outputs(wd) == {}  # b.txt is gone, but its job ran before c.txt's
    (wd / "a.txt").unlink()  # by hand: Snakemake's rule (a missing intermediate) stands
    assert stale_outputs(wd) == {}
    dry = smk(wd, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_failed_rerun_reruns_what_it_left_stale(tmp_path):
    wd = workflow(tmp_path)
    (wd / "fail").touch()
    assert smk(wd, "--config", "value=2").returncode != 0  # a's rerun fails: a.txt deleted
    assert not (wd / "a.txt").exists() and (wd / "c.txt").read_text() == "1\n"
    # before the fix: "Nothing to be done", c.txt kept the old value; now b.txt is traced
    # back through its record to a.txt's newer, failed job
    (wd / "fail").unlink()
    run = smk(wd, "--config", "value=2")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "left no file" in run.stderr
    assert (wd / "c.txt").read_text() == "2\n"
    again = smk(wd, "-n", "--config", "value=2")
    assert stale_outputs(wd) == {} and "Nothing to be done" in again.stdout + again.stderr


def test_marking_changes_only_the_stale_records(tmp_path):
    wd = workflow(tmp_path)
    (wd / "fail").touch()
    smk(wd, "--config", "value=2")
    files = {k: r.file for k, r in read_records(wd).items()}
    before = {k: json.loads(f.read_text()) for k, f in files.items()}
    assert mark_stale_outputs(wd) == ["c.txt"] == mark_stale_outputs(wd)  # idempotent
    after = {k: json.loads(f.read_text()) for k, f in files.items()}
    assert [k for k in files if after[k] != before[k]] == ["c.txt"]
    params = {k: v["params"] for k, v in after.items()}
    assert [k for k, v in params.items() if STALE in v] == ["c.txt"]
    assert params["c.txt"].count(STALE) == 1
