"""``Retriever``: load an export folder and select demonstrations exactly as the evaluation
does: ``n_retrieve_factor``·k candidates, optionally filtered to a task, best first; prompts
use ``llmr.evaluation.prompts.format_prompt`` with the most relevant demonstration last.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from llmr.core.io import (
    EXAMPLE_FIELDS,
    file_digest,
    read_json,
    read_parquet,
)
from llmr.export.manifest import (
    ENCODER_DIR,
    INDEX_DIR,
    MANIFEST,
    MANIFEST_DIGEST,
    POOL_FILE,
    ExportError,
    check_device,
    manifest_digest,
    read_manifest,
)

log = logging.getLogger(__name__)


# a query: its text, or an example record with "query" (+ "answers", "options")
Query = str | Mapping[str, Any]


@dataclass(frozen=True)
class Demonstration:
    """One retrieved demonstration: pool id, its text, its task and the retriever's score."""

    id: str
    contents: str
    task_name: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _ColumnLookup:
    """``.at[row, column]`` over plain lists: the pool lookups of ``prompts._retrieved_demos``
    without pandas' per-call cost (about 100 µs per ``DataFrame.at`` here, 80 per query)."""

    def __init__(self, df: pd.DataFrame):
        self._cols = {c: df[c].tolist() for c in df.columns}
        self.at = self

    def __getitem__(self, key: tuple[int, str]) -> Any:
        row, col = key
        return self._cols[col][row]


def few_shot_prompt(query: str, demos: Sequence[Demonstration]) -> str:
    """The evaluation's prompt for ``query`` from demonstrations ordered best first."""
    from llmr.evaluation.prompts import format_prompt

    return format_prompt([d.contents for d in reversed(demos)], query)


class Retriever:
    """A loaded export: ``retrieve`` demonstrations or ready few-shot ``prompt`` s for queries.

    Dense exports encode queries on ``device`` (CUDA when visible, else CPU) and search the
    FAISS index on the CPU; BM25 exports need no model.
    """

    def __init__(
        self, path: Path, manifest: dict[str, Any], pool: pd.DataFrame, search_fn, tasks: list[str]
    ):
        self.path = path
        self.manifest = manifest
        self.pool = pool
        self.tasks = tasks
        self._search = search_fn  # (queries, n) -> (indices (Q, n) int64 -1 padded, scores)
        self._ids = pool["id"].tolist()
        self._contents = pool["contents"].astype(str).tolist()
        self._tasks = pool["task_name"].astype(str).tolist()
        self._id_to_row = {pid: i for i, pid in enumerate(self._ids)}
        self._lookup = _ColumnLookup(pool[["_hash", "task_name"]])

    # -- loading

    @classmethod
    def load(cls, path: str | Path, device: str | None = None, verify: bool = False) -> Retriever:
        """Load an export folder; ``verify`` also checks every file's sha256.

        Raises ExportError (a ValueError) for a folder that is not an export, a manifest of
        another format version, missing or altered files, or an index whose ids differ from
        the pool's.
        """
        from llmr.core.records import content_hash
        from llmr.retrieval.candidates import ids_fingerprint

        root = Path(path)
        manifest = read_manifest(root)
        if verify:
            recorded = manifest.get(MANIFEST_DIGEST)
            if recorded is None:
                raise ExportError(
                    f"{path}: {MANIFEST} carries no {MANIFEST_DIGEST} (exported by "
                    "an older llmr?), so it cannot be verified: re-export"
                )
            if recorded != manifest_digest(manifest):
                raise ExportError(
                    f"{path}: {MANIFEST} changed since export (its content no "
                    f"longer matches {MANIFEST_DIGEST}); re-export"
                )
            bad = [f for f, h in manifest["files"].items() if file_digest(root / f) != h]
            if bad:
                raise ExportError(f"{path}: files changed since export: {bad[:5]}")
        device = check_device(device)
        pool = read_parquet(root / POOL_FILE)
        pool["id"] = pool["id"].astype(str)
        ids = pool["id"].tolist()
        index_ids = read_json(root / INDEX_DIR / "ids.json")
        if index_ids != ids or ids_fingerprint(ids) != manifest["ids_sha1"]:
            raise ExportError(f"{path}: the index's passage ids differ from {POOL_FILE}")
        pool["_hash"] = [content_hash(c) for c in pool["contents"]]
        if manifest["kind"] == "dense":
            search_fn = cls._dense_search(root, manifest, len(pool), device)
        elif manifest["kind"] == "bm25":
            search_fn = cls._bm25_search(root, len(pool))
        else:
            raise ExportError(f"{path}: unknown retriever kind {manifest['kind']!r}")
        tasks = sorted(set(pool["task_name"].astype(str)))
        return cls(root, manifest, pool, search_fn, tasks)

    @staticmethod
    def _dense_search(root: Path, manifest: dict, n_pool: int, device: str | None):
        from llmr.models.encoder import load_encoder
        from llmr.retrieval.index import encode, faiss_topk, load_index

        try:
            index, _ = load_index(str(root / INDEX_DIR))
        except RuntimeError as e:  # faiss: a truncated or corrupt index file
            raise ExportError(
                f"{root / INDEX_DIR / 'index.faiss'}: unreadable FAISS index, "
                f"truncated or corrupt ({str(e).strip().splitlines()[-1][:200]}); "
                "re-export (llmr retrieve --verify checks every file)"
            ) from None
        if index.ntotal != n_pool:
            raise ExportError(f"{root}: FAISS index holds {index.ntotal} vectors, pool {n_pool}")
        try:
            model, tok = load_encoder(str(root / ENCODER_DIR), device=device)
        except Exception as e:  # e.g. a truncated safetensors file (SafetensorError)
            raise ExportError(
                f"{root / ENCODER_DIR}: unreadable encoder, truncated or corrupt "
                f"({type(e).__name__}: {str(e).strip()[:200]}); re-export "
                "(llmr retrieve --verify checks every file)"
            ) from None
        if model.config.hidden_size != index.d:
            raise ExportError(
                f"{root}: encoder dimension {model.config.hidden_size} differs "
                f"from the index's {index.d}"
            )

        def search(queries: list[str], n: int, batch_size: int):
            q = encode(
                model,
                tok,
                queries,
                prefix=manifest["query_prefix"],
                pooling=manifest["pooling"],
                max_length=manifest["max_length"],
                batch_size=batch_size,
            )
            return faiss_topk(index, q, n)

        return search

    @staticmethod
    def _bm25_search(root: Path, n_pool: int):
        from llmr.retrieval.bm25 import load_index

        try:
            index = load_index(str(root / INDEX_DIR))
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            raise ExportError(
                f"{root / INDEX_DIR}: unreadable BM25 index, truncated or corrupt "
                f"({type(e).__name__}: {str(e)[:200]}); re-export"
            ) from None
        if index.n_passages != n_pool:
            raise ExportError(
                f"{root}: BM25 index holds {index.n_passages} passages, pool {n_pool}"
            )

        def search(queries: list[str], n: int, batch_size: int):
            return index.topk(queries, n)

        return search

    # -- retrieval

    @property
    def name(self) -> str:
        return str(self.manifest["retriever"])

    def _check(
        self, queries: Sequence[Query], k: int | None, task: str | Sequence[str | None] | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Validated queries as example records (``task_name`` = the filter task or None)."""
        if isinstance(queries, str | Mapping) or not isinstance(queries, Sequence):
            raise TypeError("queries must be a list of strings (for one query: [query])")
        texts, answers, options = [], [], []
        for i, q in enumerate(queries):
            rec = q if isinstance(q, Mapping) else {"query": q}
            text = rec.get("query")
            if not isinstance(text, str):
                raise TypeError(
                    f"query {i} is {type(text if isinstance(q, Mapping) else q).__name__}, not str"
                )
            if not text.strip():
                raise ValueError(f"query {i} is empty")
            texts.append(text)
            answers.append([str(a) for a in rec.get("answers") or []])
            options.append([str(o) for o in rec.get("options") or []])
        k = int(self.manifest["k"]) if k is None else k
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if k > len(self.pool):
            raise ValueError(f"k={k} is larger than the pool ({len(self.pool)} passages)")
        tasks = [task] * len(texts) if task is None or isinstance(task, str) else list(task)
        if len(tasks) != len(texts):
            raise ValueError(f"{len(tasks)} task names for {len(texts)} queries")
        unknown = sorted({str(t) for t in tasks if t is not None and t not in self.tasks})
        if unknown:
            raise ValueError(f"unknown task name(s) {unknown}; this pool has {self.tasks}")
        records = [
            {"query_id": str(i), "query": q, "answers": a, "options": o, "task_name": t}
            for i, (q, a, o, t) in enumerate(zip(texts, answers, options, tasks, strict=True))
        ]
        return records, k

    def retrieve(
        self,
        queries: Sequence[Query],
        k: int | None = None,
        task: str | Sequence[str | None] | None = None,
        batch_size: int = 64,
    ) -> list[list[Demonstration]]:
        """Top-k demonstrations per query, best first (Q lists of at most k).

        As in the evaluation, ``n_retrieve_factor``·k candidates are retrieved and, when
        ``task`` names the query's task (one name for all, or one per query), filtered to
        that task (other-task candidates fill up when fewer than k remain, their score
        lowered by ``prompts.OTHER_TASK_PENALTY``). ``k`` defaults to the evaluation's k. A query is a string, or an example
        record (``query``, ``answers``, ``options``) whose own demonstration is then left
        out, as the pipeline does for test queries. BM25 returns only passages sharing a
        word with the query, so a query may get fewer than k.
        """
        from llmr.evaluation.prompts import _retrieved_demos
        from llmr.retrieval.candidates import candidates_table, self_exclusions

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        records, k = self._check(queries, k, task)
        factor = int(self.manifest["n_retrieve_factor"])
        n = min(factor * k, len(self.pool))
        out: list[list[Demonstration]] = []
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            if any(len(r["answers"]) for r in batch):  # example records: the pipeline's path
                bdf = pd.DataFrame(batch, columns=list(EXAMPLE_FIELDS))
                exclude = self_exclusions(bdf, self.pool)
                extra = max((len(e) for e in exclude), default=0)
                idx, scores = self._search(
                    bdf["query"].tolist(), min(n + extra, len(self.pool)), batch_size
                )
                cands = candidates_table(bdf, self._ids, idx, scores, n, exclude)
                cand = {
                    q: (ids, sc)
                    for q, ids, sc in zip(
                        cands["query_id"], cands["doc_ids"], cands["doc_scores"], strict=True
                    )
                }
            else:  # nothing to exclude: the valid hits (row >= 0), best first
                idx, scores = self._search([r["query"] for r in batch], n, batch_size)
                cand = {
                    r["query_id"]: (
                        [self._ids[i] for i in idx[j] if i >= 0],
                        [float(v) for i, v in zip(idx[j], scores[j], strict=True) if i >= 0],
                    )
                    for j, r in enumerate(batch)
                }
            for row in batch:
                variant = "no_filter" if row["task_name"] is None else "task_filter"
                rows, sc = _retrieved_demos(
                    row, cand, self._id_to_row, self._lookup, k, variant, factor
                )
                out.append(
                    [
                        Demonstration(self._ids[r], self._contents[r], self._tasks[r], s)
                        for r, s in zip(rows, sc, strict=True)
                    ]
                )
        return out

    def prompts(
        self,
        queries: Sequence[Query],
        k: int | None = None,
        task: str | Sequence[str | None] | None = None,
        batch_size: int = 64,
    ) -> list[str]:
        """Few-shot prompts in the evaluation's layout (most relevant demonstration last)."""
        demos = self.retrieve(queries, k, task, batch_size)
        return [
            few_shot_prompt(q if isinstance(q, str) else q["query"], ds)
            for q, ds in zip(queries, demos, strict=True)
        ]

    def prompt(self, query: Query, k: int | None = None, task: str | None = None) -> str:
        """The few-shot prompt for one query (see :meth:`prompts`)."""
        return self.prompts([query], k, task)[0]

    def __repr__(self) -> str:
        return (
            f"Retriever({self.name!r}, kind={self.manifest['kind']!r}, "
            f"passages={len(self.pool)}, path={str(self.path)!r})"
        )
