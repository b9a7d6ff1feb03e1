"""Record formats and atomic file IO.

Every artifact is written to a temporary file in the destination folder and renamed into
place, so a killed job never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

EXAMPLE_FIELDS = ("query_id", "query", "answers", "options", "task_name")
PASSAGE_FIELDS = ("id", "contents", "task_name")
CANDIDATE_FIELDS = (*EXAMPLE_FIELDS, "doc_ids", "doc_scores")


class RecordError(ValueError):
    """A malformed input record; the message names the file and the record."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Works for files and for folders (e.g. ``save_pretrained`` output).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / (path.name + suffix)
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as Parquet atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table; list columns come back as Python lists."""
    df = pd.read_parquet(path, columns=columns)
    for col in df.columns:
        if len(df) and hasattr(df[col].iloc[0], "tolist") and df[col].dtype == object:
            df[col] = [v.tolist() if hasattr(v, "tolist") else v for v in df[col]]
    return df


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write a small JSON document atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield records of a JSON-lines file (optionally gzip-compressed).

    Raises RecordError naming the file and line for malformed JSON.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise RecordError(f"{path}: line {lineno}: malformed JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise RecordError(f"{path}: line {lineno}: expected a JSON object")
            yield rec


def write_jsonl(records: Iterable[dict], path: str | os.PathLike) -> None:
    """Write JSON lines atomically (gzip when the name ends in .gz)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(tmp, "wt", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False, default=_json_default) + "\n")


def require_fields(rec: dict, fields: Iterable[str], where: str) -> None:
    """Raise RecordError if ``rec`` lacks any of ``fields``; ``where`` names file and record."""
    missing = [f for f in fields if f not in rec or rec[f] is None]
    if missing:
        raise RecordError(f"{where}: missing field(s) {', '.join(missing)}")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read Parquet, JSON lines or gzipped JSON lines by extension."""
    p = str(path)
    if p.endswith(".parquet"):
        return read_parquet(path)
    if p.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
        return pd.DataFrame(list(iter_jsonl(path)))
    raise ValueError(f"{path}: unsupported table format (use .parquet, .jsonl or .jsonl.gz)")


def concat_csv(files: Iterable[str], out: str) -> None:
    """Concatenate CSV tables with the same columns into ``out`` (atomically)."""
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
