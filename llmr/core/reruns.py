"""Outputs left stale by a job that was started again and failed.

Snakemake deletes a job's outputs before the job runs. When a rerun (a changed parameter or
code) fails or is interrupted, the output is gone while everything built from its old
version stays, and Snakemake does not rerun a missing intermediate file unless a job that
needs it runs for another reason: the next invocation says "Nothing to be done" and the
results silently stay those of the old settings (snakemake/snakemake#1978). This module
finds those outputs from Snakemake's own records (``.snakemake/metadata``: one JSON file
per output path, holding its ``input`` paths, ``params`` and job ``starttime``/``endtime``)
and adds a marker to their recorded params, so that Snakemake's params trigger reruns them
(a missing record would not: Snakemake ignores it), which first rebuilds the missing input.

An output is stale when one of its recorded inputs no longer exists and that input's own
record was written by a job that started after the output's job ended: the input's
producer ran again, and left nothing (missing inputs are followed upstream through their
own records, so a ``temp()`` file in between does not hide it). Deleting an intermediate file by hand or a ``temp()``
file removed after use (its producer ran before its consumers) never counts.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

METADATA = Path(".snakemake") / "metadata"
# added to a stale output's recorded params: no job has it, so Snakemake sees them changed
STALE = "llmr: built from an input whose job ran again and failed"


@dataclass(frozen=True)
class Record:
    """One output's Snakemake metadata record: its file, inputs and job times."""

    file: Path  # the record's JSON file under .snakemake/metadata
    inputs: tuple[str, ...]
    start: float
    end: float


def _decode(parts: tuple[str, ...]) -> str:
    """The output path a record file names: urlsafe base64 of the path, split into
    folder-name-sized pieces where it is long (all but the last prefixed with '@')."""
    return base64.urlsafe_b64decode("".join(p.removeprefix("@") for p in parts)).decode()


def read_records(workdir: str | Path) -> dict[str, Record]:
    """Every readable metadata record of ``workdir``, by output path (relative to it)."""
    root = Path(workdir) / METADATA
    records = {}
    for path in root.rglob("*") if root.is_dir() else ():
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
            output = _decode(path.relative_to(root).parts)
        except (OSError, ValueError):  # not a record (a partial write, a stray file)
            continue
        start = float(data.get("starttime") or 0.0)
        records[output] = Record(
            path, tuple(data.get("input") or ()), start, float(data.get("endtime") or start)
        )
    return records


def stale_outputs(workdir: str | Path, records: dict[str, Record] | None = None) -> dict[str, str]:
    """Existing outputs of ``workdir`` built from an input whose producer was started again
    after them and left no file: {output: that input} (``records``: ``read_records``').
    Missing inputs are followed to their own recorded inputs, so a ``temp()`` file between
    the failed job and the output does not hide it."""
    workdir = Path(workdir)
    records = read_records(workdir) if records is None else records

    def missing(path: str) -> bool:
        return not os.path.lexists(workdir / path)

    def restarted(inputs: tuple[str, ...], end: float, seen: set[str]) -> str | None:
        for inp in inputs:
            producer = records.get(inp)
            if inp in seen or producer is None or not missing(inp):
                continue
            seen.add(inp)
            if producer.start > end:
                return inp
            if found := restarted(producer.inputs, end, seen):
                return found
        return None

    stale = {}
    for output, rec in records.items():
        if rec.end and not missing(output):
            if inp := restarted(rec.inputs, rec.end, set()):
                stale[output] = inp
    return stale


def mark_stale_outputs(workdir: str | Path = ".") -> list[str]:
    """Add ``STALE`` to the recorded params of every ``stale_outputs`` entry (Snakemake
    then reruns it, after the job that left its input missing); returns them, sorted."""
    records = read_records(workdir)
    stale = stale_outputs(workdir, records)
    for output, inp in sorted(stale.items()):
        log.warning(
            "%s was built from %s, whose job started again later and left no file: "
            "it will be rebuilt",
            output,
            inp,
        )
        path = records[output].file
        data = json.loads(path.read_text())
        if STALE not in (data.get("params") or []):
            data["params"] = [*(data.get("params") or []), STALE]
            tmp = path.with_name(f".{path.name}.llmr-tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(path)
    return sorted(stale)
