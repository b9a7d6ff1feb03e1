"""``llmr tasks check PATH``: which BIG-bench tasks convert, as what, and why others do not.

PATH is the bigbench sdist (``resources/packages/bigbench.tar.gz``), an extracted copy of it,
or any folder of ``<task>/task.json`` files (e.g. ``resources/bigbench``). Every task and
subtask is converted exactly as ``prepare`` would convert it, so a task reported as usable
can be put in ``suite.tasks`` under the name shown.
"""

from __future__ import annotations

import logging
import os
import tarfile
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from llmr.core.io import write_json
from llmr.data.tasks.bigbench import (
    DEFAULT_MAX_MALFORMED_FRACTION,
    REFUSAL_REASONS,
    ConvertedTask,
    TaskRefused,
    available_tasks,
    iter_tasks,
)

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def bigbench_sdist(spec: str = "bigbench==1.0.0") -> Path:
    """The bigbench sdist where the pipeline keeps it (``resources/packages/bigbench.tar.gz``
    of the project, or ``$LLMR_BIGBENCH_SDIST``), fetched from the package index if absent."""
    env = os.environ.get("LLMR_BIGBENCH_SDIST")
    path = Path(env) if env else PROJECT_ROOT / "resources" / "packages" / "bigbench.tar.gz"
    if not path.exists():
        from llmr.data.resources import fetch_package

        log.info("%s absent: fetching %s", path, spec)
        fetch_package(spec, str(path), sdist=True)
    return path


def extract_all(sdist: str | Path, out_dir: str | Path) -> Path:
    """Extract every ``task.json`` under ``benchmark_tasks/`` of the sdist into ``out_dir``."""
    out = Path(out_dir)
    with tarfile.open(sdist, "r:gz") as tar:
        for m in tar:
            parts = m.name.split("/")
            if "benchmark_tasks" not in parts or parts[-1] != "task.json":
                continue
            rel = parts[parts.index("benchmark_tasks") + 1 : -1]
            if not 1 <= len(rel) <= 2 or any(p in ("", ".", "..") for p in rel):
                continue
            fh = tar.extractfile(m)
            if fh is None:
                continue
            (out / "/".join(rel)).mkdir(parents=True, exist_ok=True)
            (out / "/".join(rel) / "task.json").write_bytes(fh.read())
    return out


def find_root(path: Path) -> Path:
    """The folder holding ``<task>/task.json`` files: ``path`` or its ``benchmark_tasks``."""
    if any(path.glob("*/task.json")):
        return path
    for depth in ("benchmark_tasks", "*/benchmark_tasks", "*/*/benchmark_tasks"):
        hits = [p for p in path.glob(depth) if p.is_dir()]
        if hits:
            return hits[0]
    raise FileNotFoundError(f"{path}: no <task>/task.json files and no benchmark_tasks folder")


def _row(name: str, result: ConvertedTask | TaskRefused) -> dict:
    row: dict = {"task": name, "parent": name.split("/")[0] if "/" in name else None}
    if isinstance(result, TaskRefused):
        row.update(status="refused", reason=result.reason, detail=result.detail)
        return row
    row.update(
        status="ok",
        task_type=result.task_type,
        metric=result.metric,
        n_usable=result.n_usable,
        n_total=result.n_total,
        n_skipped=len(result.skipped),
        skipped=result.skipped_by_reason(),
        n_subtasks=len(result.subtasks),
        note=result.note,
        labels=result.labels,
    )
    return row


def _check_chunk(args: tuple[str, list[str], float]) -> list[dict]:
    root, names, frac = args
    conv_log = logging.getLogger("llmr.data.tasks.bigbench")
    level = conv_log.level
    conv_log.setLevel(logging.ERROR)  # the rows report skipped examples; no log per example
    try:
        return [
            _row(n, r)
            for n, r in zip(
                names,
                iter_tasks(Path(root), names, max_malformed_fraction=frac, keep_examples=False),
                strict=True,
            )
        ]
    finally:
        conv_log.setLevel(level)


def check_folder(
    root: Path,
    names: Sequence[str] | None = None,
    max_malformed_fraction: float = DEFAULT_MAX_MALFORMED_FRACTION,
    jobs: int = 1,
) -> list[dict]:
    """One row per task and subtask: type, metric, usable examples, or the refusal reason."""
    names = list(names) if names else available_tasks(root)
    unknown = [n for n in names if not (root / n / "task.json").is_file()]
    if unknown:
        raise FileNotFoundError(f"{root}: unknown task name(s) {unknown}")
    if jobs <= 1:
        return _check_chunk((str(root), names, max_malformed_fraction))
    chunks = [(str(root), names[i::jobs], max_malformed_fraction) for i in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        rows = [r for part in pool.map(_check_chunk, chunks) for r in part]
    order = {n: i for i, n in enumerate(names)}
    return sorted(rows, key=lambda r: order[r["task"]])


def check_path(
    path: str | Path,
    names: Sequence[str] | None = None,
    max_malformed_fraction: float = DEFAULT_MAX_MALFORMED_FRACTION,
    jobs: int = 1,
) -> list[dict]:
    """``check_folder`` on a folder, or on a temporary extraction of an sdist."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="llmr-bigbench-") as tmp:
            root = extract_all(path, tmp)
            return check_folder(root, names, max_malformed_fraction, jobs)
    return check_folder(find_root(path), names, max_malformed_fraction, jobs)


def summarise(rows: Sequence[dict]) -> dict:
    """Counts of converted and refused tasks (top level and subtasks) and of refusal reasons."""
    out: dict = {}
    for level, sel in (
        ("tasks", [r for r in rows if r["parent"] is None]),
        ("subtasks", [r for r in rows if r["parent"] is not None]),
    ):
        out[level] = {
            "total": len(sel),
            "ok": sum(r["status"] == "ok" for r in sel),
            "refused": dict(Counter(r["reason"] for r in sel if r["status"] == "refused")),
            "with_skipped_examples": sum(r.get("n_skipped", 0) > 0 for r in sel),
            "types": dict(Counter(r["task_type"] for r in sel if r["status"] == "ok")),
        }
    return out


def format_rows(rows: Sequence[dict]) -> str:
    """A plain-text table, one line per task."""
    width = max([len(r["task"]) for r in rows] + [4])
    lines = [f"{'task':<{width}}  {'type':<15}  {'metric':<11}  usable/total  notes"]
    for r in rows:
        if r["status"] == "refused":
            lines.append(f"{r['task']:<{width}}  REFUSED ({r['reason']}): {r['detail']}")
            continue
        notes = []
        if r["n_subtasks"]:
            notes.append(f"{r['n_subtasks']} subtasks")
        if r["n_skipped"]:
            notes.append("skipped " + ", ".join(f"{n} {k}" for k, n in r["skipped"].items()))
        if r["note"]:
            notes.append(r["note"])
        lines.append(
            f"{r['task']:<{width}}  {r['task_type']:<15}  {r['metric']:<11}  "
            f"{r['n_usable']:>6}/{r['n_total']:<6}  {'; '.join(notes)}".rstrip()
        )
    return "\n".join(lines)


def tasks_check_command(
    *,
    path: str,
    json_out: str | None,
    tasks: list[str] | None,
    max_malformed_fraction: float,
    jobs: int,
) -> int:
    """``llmr tasks check PATH [--json OUT]``: print the table and counts; exit status 2 when
    PATH cannot be read."""
    try:
        rows = check_path(path, tasks, max_malformed_fraction, jobs)
    except (FileNotFoundError, tarfile.TarError, OSError) as e:
        print(f"llmr tasks check: {e}")
        return 2
    print(format_rows(rows))
    summary = summarise(rows)
    for level, s in summary.items():
        refused = ", ".join(f"{n} {k}" for k, n in s["refused"].items()) or "none"
        print(f"{level}: {s['ok']} of {s['total']} convert; refused: {refused}")
    if json_out:
        write_json(
            {
                "source": str(path),
                "max_malformed_fraction": max_malformed_fraction,
                "summary": summary,
                "refusal_reasons": REFUSAL_REASONS,
                "tasks": rows,
            },
            json_out,
        )
    return 0
