"""Resumable outputs: the finished parts of a stage's output, kept in ``<out>.partial/`` until
the whole output is written, so a rerun after a crash redoes only the unfinished parts.

The folder holds ``identity.json`` (what the parts were computed with: model, settings,
inputs) and one Parquet file per finished part, each written atomically. A folder made with
another identity is discarded when opened; a part is read back only by its name.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from llmr.core.io import read_parquet, write_json, write_parquet

log = logging.getLogger(__name__)

IDENTITY_FILE = "identity.json"


class PartialOutputs:
    """Finished parts of ``out`` in ``<out>.partial/``, made with ``identity``.

    ``same(saved, identity)`` decides whether an existing folder's identity matches (default:
    equality); a folder that does not match, or whose identity file is unreadable, is removed.
    """

    def __init__(
        self,
        out: str | Path,
        identity: dict[str, Any],
        same: Callable[[dict, dict], bool] = lambda a, b: a == b,
    ):
        self.folder = Path(f"{out}.partial")
        self.identity = identity
        ident = self.folder / IDENTITY_FILE
        if self.folder.exists():
            try:
                match = same(json.loads(ident.read_text()), identity)
            except (OSError, ValueError):
                match = False
            if not match:
                log.warning("discarding %s: made with other inputs or settings", self.folder)
                shutil.rmtree(self.folder)
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            write_json(identity, ident)

    def path(self, name: str) -> Path:
        """The file of part ``name`` (``name`` is a file-name stem)."""
        return self.folder / f"{name}.parquet"

    def names(self) -> list[str]:
        """Names of the parts on disk, sorted."""
        return sorted(p.stem for p in self.folder.glob("*.parquet"))

    def load(self, name: str) -> pd.DataFrame | None:
        """Part ``name``, or None when it was not finished."""
        path = self.path(name)
        return read_parquet(str(path)) if path.exists() else None

    def save(self, name: str, df: pd.DataFrame) -> None:
        """Write part ``name`` (atomically: a crash leaves the old state or the new part)."""
        write_parquet(df, str(self.path(name)))

    def remove(self) -> None:
        """Drop the folder (the whole output has been written)."""
        shutil.rmtree(self.folder, ignore_errors=True)
