"""Record formats and atomic file IO.

Every artifact is written to a temporary file in the destination folder and renamed into
place, so a killed job never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import importlib.util
import json
import os
import re
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

EXAMPLE_FIELDS = ("query_id", "query", "answers", "options", "task_name")
PASSAGE_FIELDS = ("id", "contents", "task_name")
CANDIDATE_FIELDS = (*EXAMPLE_FIELDS, "doc_ids", "doc_scores")


class RecordError(ValueError):
    """A malformed input record; the message names the file and the record."""


def current_umask() -> int:
    """The process umask (read from /proc where it can be, else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Give ``path`` (a file, or a folder and everything under it) the modes a plain
    ``open`` / ``mkdir`` would: 0666 / 0777 less the umask, keeping execute bits.

    Writers such as safetensors and ``tempfile`` create files 0600 and folders 0700, so
    without this an artifact (a trained model.safetensors, an export) is unreadable to the
    rest of a group or machine whatever the user's umask says.
    """
    mask = current_umask()
    paths = [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]
    for p in paths:
        if p.is_symlink():
            continue
        st = p.stat()
        want = (0o777 if p.is_dir() else 0o666 | (st.st_mode & 0o111)) & ~mask
        if stat.S_IMODE(st.st_mode) != want:
            os.chmod(p, want)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Works for files and for folders (e.g. ``save_pretrained`` output). What is renamed into
    place gets the modes of the user's umask (:func:`apply_umask`), whatever its writer used.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / (path.name + suffix)
    try:
        try:
            yield target
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise OSError(
                    errno.ENOSPC,
                    f"{path}: no space left on device while writing it "
                    "(nothing was written; free space and rerun)",
                ) from e
            raise
        if target.exists():
            apply_umask(target)
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
    """Read a Parquet table; list columns come back as Python lists.

    A truncated or non-Parquet file raises RecordError naming it (a missing file raises
    FileNotFoundError); a missing column raises RecordError naming the column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such Parquet file")
    if Path(path).is_file():
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as e:
            raise RecordError(
                f"{path}: not a readable Parquet file, truncated or corrupt "
                f"({e}); delete it and rerun the stage that makes it"
            ) from None
        missing = [c for c in columns or [] if c not in schema.names]
        if missing:
            raise RecordError(f"{path}: missing column(s) {missing} (has {schema.names})")
    try:
        df = pd.read_parquet(path, columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise RecordError(
            f"{path}: corrupt Parquet data ({e}); delete it and rerun the stage that makes it"
        ) from None
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


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def check_surrogates(text: str, obj: Any, where: str) -> None:
    """RecordError naming ``where`` when parsed JSON holds a lone surrogate (e.g. ``"\\ud800"``):
    valid JSON, but no UTF-8 text, so writing it later would fail far from its source."""
    if not _SURROGATE_ESCAPE.search(text):
        return
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        bad = e.object[e.start : e.end].encode("utf-8", "backslashreplace").decode()
        raise RecordError(
            f"{where}: a lone surrogate escape ({bad}) is not a character; "
            "fix the text (a half of a UTF-16 pair?)"
        ) from None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON document; RecordError names the file for bad UTF-8, malformed JSON or a
    lone surrogate escape."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
        obj = json.loads(text)
        check_surrogates(text, obj, str(path))
        return obj
    except UnicodeDecodeError as e:
        raise RecordError(f"{path}: not UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise RecordError(
            f"{path}: malformed JSON ({e.msg} at line {e.lineno}); a "
            "truncated file? delete it and rerun"
        ) from None


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield records of a JSON-lines file (optionally gzip-compressed).

    Raises RecordError naming the file and line for malformed JSON, bytes that are not
    UTF-8, and a truncated (gzip) file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    lineno = 0
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise RecordError(
                        f"{path}: line {lineno}: not UTF-8 (byte {e.start} of the "
                        "line); re-encode the file as UTF-8"
                    ) from None
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    cut = "" if line.endswith("\n") else " (last line is cut off: truncated file?)"
                    raise RecordError(
                        f"{path}: line {lineno}: malformed JSON ({e.msg}){cut}"
                    ) from None
                if not isinstance(rec, dict):
                    raise RecordError(
                        f"{path}: line {lineno}: expected a JSON object, got {type(rec).__name__}"
                    )
                check_surrogates(line, rec, f"{path}: line {lineno}")
                yield rec
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise RecordError(f"{path}: truncated or corrupt gzip after line {lineno} ({e})") from None


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


def require_package(name: str, purpose: str) -> None:
    """Raise ImportError saying what needs ``name`` and how to install it, if it is missing."""
    if importlib.util.find_spec(name) is None:
        raise ImportError(
            f"{purpose} needs the Python package {name!r}, which is not "
            f"installed: pip install {name}"
        )


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


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
