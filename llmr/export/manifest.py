"""The export format: an exported retriever is a self-contained folder (``FORMAT_VERSION`` 1)
that holds everything needed to retrieve on another machine:

- ``manifest.json``: format name and version, retriever name, kind (dense / bm25) and round,
  pooling, query and passage prefixes, query max length, the evaluation's ``k`` and
  ``n_retrieve_factor``, task names, config and code fingerprints, that retriever's rows of
  the evaluation summary, and the sha256 of every file;
- ``passages.parquet``: the pool (``id``, ``contents``, ``task_name``), in index row order;
- ``index/``: dense: ``index.faiss``, ``ids.json``, ``meta.json``; BM25: bm25s's files,
  ``params.json`` and ``ids.json``;
- ``encoder/`` (dense only): the encoder's config, tokenizer and weight files.

``llmr.export.build`` writes it, ``llmr.export.retriever`` loads it (``read_manifest`` checks
it), ``llmr.export.retrieve`` is the ``llmr retrieve`` command.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmr.core.io import (
    file_digest,
)

log = logging.getLogger(__name__)
FORMAT = "llmr-retriever"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
POOL_FILE = "passages.parquet"
INDEX_DIR = "index"
ENCODER_DIR = "encoder"
DENSE_INDEX_FILES = ("index.faiss", "ids.json", "meta.json")
# files of an encoder checkpoint that are copied (the same set llmr.retrieval.index fingerprints)
_ENCODER_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model")


class ExportError(ValueError):
    """A folder that is not a usable retriever export; the message says why."""


def check_device(device: str | None) -> str | None:
    """``device`` if torch can use it here; ValueError saying what is visible otherwise."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r} ({e}); use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(
                f"device {device!r}: no CUDA GPU is visible here; use --device cpu "
                "(or leave --device out: CUDA when visible, else CPU)"
            )
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"device {device!r}: only {n} CUDA GPU(s) are visible")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r}: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r}: llmr runs on cpu, cuda or mps")
    return device


def _checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the manifest, keyed by relative path."""
    return {
        str(p.relative_to(root)): file_digest(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


MANIFEST_DIGEST = "manifest_sha256"
# keys every manifest needs (and, for dense exports, DENSE_KEYS too)
MANIFEST_KEYS = (
    "format",
    "format_version",
    "retriever",
    "kind",
    "k",
    "n_retrieve_factor",
    "ids_sha1",
    "files",
)
DENSE_KEYS = ("pooling", "query_prefix", "max_length")


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """sha256 of a manifest's content (canonical JSON, without its own digest key)."""
    import hashlib

    body = {k: v for k, v in manifest.items() if k != MANIFEST_DIGEST}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of an export folder; raises ExportError for anything else."""
    root = Path(path)
    if not root.is_dir():
        raise ExportError(f"{path}: no such folder (expected a retriever export)")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise ExportError(
            f"{path}: not a retriever export (no {MANIFEST}); build one with "
            "`snakemake results/export/<retriever>`"
        )
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ExportError(f"{mpath}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{mpath}: not an llmr retriever manifest (format is not {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ExportError(
            f"{mpath}: format version {manifest.get('format_version')!r}; this "
            f"llmr reads version {FORMAT_VERSION} (re-export with this version)"
        )
    need = MANIFEST_KEYS + (DENSE_KEYS if manifest.get("kind") == "dense" else ())
    absent = [key for key in need if key not in manifest]
    if absent:
        raise ExportError(
            f"{mpath}: manifest lacks key(s) {absent}; the export is damaged (re-export it)"
        )
    files = manifest["files"]
    if not isinstance(files, dict) or not all(isinstance(h, str) for h in files.values()):
        raise ExportError(f"{mpath}: 'files' must map relative paths to sha256 digests")
    inside = root.resolve()
    for f in files:
        rel = Path(f)
        if (
            not f
            or rel.is_absolute()
            or ".." in rel.parts
            or "\\" in f
            or not (root / rel).resolve().is_relative_to(inside)
        ):
            raise ExportError(
                f"{mpath}: files entry {f!r} points outside the export folder; "
                "refusing to read it (re-export)"
            )
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise ExportError(f"{path}: incomplete export, missing {missing[:5]}")
    return manifest
