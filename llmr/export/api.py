"""Exported retrievers: a self-contained folder, the ``Retriever`` API and ``llmr retrieve``.

An export folder (``FORMAT_VERSION`` 1) holds everything needed to retrieve on another machine:

- ``manifest.json``: format name and version, retriever name, kind (dense / bm25) and round,
  pooling, query and passage prefixes, query max length, the evaluation's ``k`` and
  ``n_retrieve_factor``, task names, config and code fingerprints, that retriever's rows of
  the evaluation summary, and the sha256 of every file;
- ``passages.parquet``: the pool (``id``, ``contents``, ``task_name``), in index row order;
- ``index/``: dense: ``index.faiss``, ``ids.json``, ``meta.json``; BM25: bm25s's files,
  ``params.json`` and ``ids.json``;
- ``encoder/`` (dense only): the encoder's config, tokenizer and weight files.

``Retriever.load(path)`` checks all of it (format, version, ids against the pool) and
``Retriever.retrieve`` / ``Retriever.prompt`` then select demonstrations exactly as the
evaluation does: ``n_retrieve_factor``·k candidates, optionally filtered to a task, best
first; prompts use ``llmr.evaluation.prompts.format_prompt`` with the most relevant demonstration last.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from llmr.core.io import (
    EXAMPLE_FIELDS,
    PASSAGE_FIELDS,
    _json_default,
    atomic_path,
    file_digest,
    read_json,
    read_parquet,
    write_json,
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


# a query: its text, or an example record with "query" (+ "answers", "options")
Query = str | Mapping[str, Any]


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


# ---------------------------------------------------------------- export


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


def _retriever_round(name: str) -> int | None:
    return int(name[4:]) if name.startswith("llmr") and name[4:].isdigit() else None


def _summary_rows(summary: str | None, name: str) -> list[dict[str, Any]]:
    """Rows of the evaluation summary CSV whose ``retriever`` is ``name`` (NaN → None)."""
    if not summary:
        return []
    df = pd.read_csv(summary)
    rows = df[df["retriever"].astype(str) == name].to_dict("records")
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in rows
    ]


def _copy_encoder(encoder: str, dst: Path) -> None:
    """Copy a local checkpoint's model and tokenizer files; save a hub model with save_pretrained."""
    src = Path(encoder)
    dst.mkdir()
    if src.is_dir():
        files = [p for p in src.iterdir() if p.is_file() and p.suffix in _ENCODER_SUFFIXES]
        if not any(p.name == "config.json" for p in files):
            raise ExportError(f"{encoder}: no config.json; not a model folder")
        for p in files:
            shutil.copy2(p, dst / p.name)
        return
    from llmr.models.encoder import load_encoder

    model, tok = load_encoder(encoder, device="cpu")
    model.save_pretrained(dst)
    tok.save_pretrained(dst)


def export_retriever(
    out_dir: str,
    name: str,
    index: str,
    passages: str,
    tasks: str,
    encoder: str | None = None,
    summary: str | None = None,
    pooling: str = "mean",
    query_prefix: str = "",
    passage_prefix: str = "",
    k: int = 8,
    n_retrieve_factor: int = 5,
    config_fingerprint: str = "",
    code_fingerprint: str = "",
) -> None:
    """Copy a built index (dense or BM25), its encoder and the pool into a self-contained folder.

    ``index`` is ``results/index/<name>``; a dense export also needs ``encoder`` (the folder
    or hub id the index was built with). The index's recorded pooling, passage prefix,
    encoder fingerprint and passage ids are checked against the arguments and ``passages``.
    """
    from llmr.retrieval.candidates import PARAMS_FILE, check_ids, ids_fingerprint, read_passages
    from llmr.retrieval.index import encoder_fingerprint

    pool = read_passages(passages)
    ids = pool["id"].astype(str).tolist()
    src = Path(index)
    if (src / "index.faiss").exists():
        kind = "dense"
        meta = read_json(src / "meta.json")
        if read_json(src / "ids.json") != ids:
            raise ExportError(f"{index}: ids.json does not list the passages of {passages}")
        check_ids(index, meta["ids_sha1"], pool)
        if meta["pooling"] != pooling:
            raise ExportError(f"{index}: built with {meta['pooling']} pooling, not {pooling}")
        if meta.get("passage_prefix", "") != passage_prefix:
            raise ExportError(
                f"{index}: built with passage prefix {meta.get('passage_prefix')!r}, "
                f"not {passage_prefix!r}"
            )
        if encoder is None:
            raise ExportError(f"{index}: a dense index needs its encoder to be exported")
        fp = encoder_fingerprint(encoder)
        if not fp.startswith("hub:") and fp != meta["encoder_fingerprint"]:
            raise ExportError(
                f"{index}: built with encoder {meta['encoder']}, not {encoder} "
                "(checkpoint fingerprints differ)"
            )
        settings = {
            "pooling": pooling,
            "query_prefix": query_prefix,
            "passage_prefix": passage_prefix,
            "max_length": int(meta["max_length"]),
            "index_type": meta["index_type"],
            "dim": int(meta["dim"]),
        }
    elif (src / PARAMS_FILE).exists():
        kind = "bm25"
        params = read_json(src / PARAMS_FILE)
        check_ids(index, params["ids_sha1"], pool)
        settings = {key: params.get(key) for key in ("k1", "b", "method", "stopwords", "stemmer")}
    else:
        raise ExportError(
            f"{index}: neither a FAISS index (index.faiss) nor a BM25 index ({PARAMS_FILE})"
        )

    tdf = read_parquet(tasks)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "retriever": name,
        "kind": kind,
        "round": _retriever_round(name),
        **settings,
        "k": int(k),
        "n_retrieve_factor": int(n_retrieve_factor),
        "n_passages": len(pool),
        "ids_sha1": ids_fingerprint(ids),
        "tasks": [str(t) for t in tdf["task_name"]],
        "held_out_tasks": [
            str(t) for t, h in zip(tdf["task_name"], tdf["held_out"], strict=True) if h
        ],
        "config_fingerprint": config_fingerprint,
        "code_fingerprint": code_fingerprint,
        "metrics": _summary_rows(summary, name),
    }
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        pool[list(PASSAGE_FIELDS)].to_parquet(tmp / POOL_FILE, index=False)
        if kind == "dense":
            (tmp / INDEX_DIR).mkdir()
            for f in DENSE_INDEX_FILES:
                shutil.copy2(src / f, tmp / INDEX_DIR / f)
            _copy_encoder(str(encoder), tmp / ENCODER_DIR)
            manifest["encoder_fingerprint"] = encoder_fingerprint(str(tmp / ENCODER_DIR))
        else:
            shutil.copytree(src, tmp / INDEX_DIR)
            write_json(ids, tmp / INDEX_DIR / "ids.json")
        manifest["files"] = _checksums(tmp)
        manifest = json.loads(json.dumps(manifest, default=_json_default))  # as read back
        manifest[MANIFEST_DIGEST] = manifest_digest(manifest)
        write_json(manifest, tmp / MANIFEST)
    log.info("exported %s retriever %s (%d passages) to %s", kind, name, len(pool), out_dir)


# ---------------------------------------------------------------- loading and retrieval


@dataclass(frozen=True)
class Demonstration:
    """One retrieved demonstration: pool id, its text, its task and the retriever's score."""

    id: str
    contents: str
    task_name: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

        def search(queries: list[str], n: int, batch_size: int = 64):
            q = encode(
                model,
                tok,
                queries,
                manifest["query_prefix"],
                manifest["pooling"],
                manifest["max_length"],
                batch_size,
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

        def search(queries: list[str], n: int, batch_size: int = 64):
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


# ---------------------------------------------------------------- llmr retrieve


def _decode(data: bytes, where: str) -> str:
    """UTF-8 text of an input; a leading byte-order mark (Windows editors) is dropped."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(
            f"{where}: not valid UTF-8 (byte 0x{data[e.start]:02x} on line {line})"
        ) from None


INPUT_FORMATS = ("auto", "jsonl", "text")


def parse_input(text: str, where: str, input_format: str = "auto") -> list[dict[str, Any]]:
    """Query records from input lines. Blank lines skip.

    ``text``: every line is a query text. ``jsonl``: every line is a JSON object with
    ``query`` (and optional ``task``, ``id``). ``auto``: a line that parses as a JSON object
    is a record, and a line that does not look like one (not starting with ``{``, or not
    JSON and without a ``"query"`` key) is query text; a line that starts like a record
    (``{"query"``...) but is not valid JSON is refused, so a typo is never searched as text.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {input_format!r} (one of {INPUT_FORMATS})")
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if input_format == "text" or (input_format == "auto" and not line.lstrip().startswith("{")):
            rec: Any = {"query": line}
        else:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                if input_format == "auto" and '"query"' not in line:
                    rec = {"query": line}  # plain text that happens to start with "{"
                else:
                    raise ValueError(
                        f"{where}: line {lineno}: malformed JSON ({e.msg}); for "
                        "plain-text queries use --input-format text"
                    ) from None
            else:
                if not isinstance(rec, dict) or not isinstance(rec.get("query"), str):
                    raise ValueError(
                        f'{where}: line {lineno}: needs a string field "query" '
                        "(for plain-text queries use --input-format text)"
                    )
        rec.setdefault("id", str(len(records)))
        records.append(rec)
    return records


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


PROMPT_SEPARATOR = "---"


def retrieve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmr retrieve",
        description="Demonstrations (or ready few-shot prompts) for queries, from an exported "
        "retriever (results/export/<retriever>). Queries come from --query, "
        "--input, or stdin: one per line, as text or as a JSON object with "
        '"query" (and optional "task", "id").',
    )
    p.add_argument("path", help="export folder, e.g. results/export/llmr1")
    p.add_argument("--query", action="append", default=[], help="a query text (repeat for several)")
    p.add_argument("--input", help="file of queries (JSON lines or plain lines); '-' = stdin")
    p.add_argument(
        "--k", type=int, default=None, help="demonstrations per query (default: the evaluation's k)"
    )
    p.add_argument(
        "--task",
        default=None,
        help='keep only demonstrations of this task (a record\'s "task" overrides)',
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "prompt"),
        default="jsonl",
        help="jsonl: one JSON object per query with its demonstrations and prompt; "
        "prompt: the raw prompts, separated by a line '---' when several",
    )
    p.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default="auto",
        help="auto: JSON-object lines are records, other lines query text; jsonl: "
        "records only; text: every line is a query text",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=64,
        help="queries encoded per batch (a positive integer)",
    )
    p.add_argument("--device", default=None, help="torch device for the encoder (default: auto)")
    p.add_argument("--verify", action="store_true", help="check every file's sha256 first")
    return p


def retrieve_main(argv: list[str]) -> int:
    """``llmr retrieve``: print demonstrations or prompts; exit status 2 on bad input."""
    parser = retrieve_parser()
    args = parser.parse_args(argv)
    try:
        if args.query and args.input:
            raise ValueError("give --query or --input, not both")
        if args.query:
            records = [{"query": q, "id": str(i)} for i, q in enumerate(args.query)]
        else:
            if args.input in (None, "-"):
                if args.input is None and sys.stdin.isatty():
                    raise ValueError("no queries: give --query, --input or pipe them on stdin")
                records = parse_input(
                    _decode(sys.stdin.buffer.read(), "stdin"), "stdin", args.input_format
                )
            else:
                data = Path(args.input).read_bytes()
                records = parse_input(_decode(data, args.input), args.input, args.input_format)
            if not records:
                raise ValueError("no queries in the input")
        retriever = Retriever.load(args.path, device=args.device, verify=args.verify)
        queries = [r["query"] for r in records]
        tasks = [r.get("task", args.task) for r in records]
        demos = retriever.retrieve(queries, args.k, tasks, args.batch_size)
        prompts = [
            few_shot_prompt(rec["query"], ds) for rec, ds in zip(records, demos, strict=True)
        ]
        if args.format == "prompt" and len(prompts) > 1:
            for i, prompt in enumerate(prompts):
                if PROMPT_SEPARATOR in prompt.splitlines():
                    raise ValueError(
                        f"query {records[i]['id']}: its prompt holds a line "
                        f"{PROMPT_SEPARATOR!r}, the separator of --format prompt, "
                        "so the output could not be split back; use --format "
                        "jsonl (or one query per call)"
                    )
    except (ValueError, TypeError, OSError) as e:
        print(f"llmr retrieve: error: {e}", file=sys.stderr)
        return 2
    out = sys.stdout
    for i, (rec, ds) in enumerate(zip(records, demos, strict=True)):
        prompt = prompts[i]
        if args.format == "prompt":
            out.write((f"{PROMPT_SEPARATOR}\n" if i else "") + prompt)
        else:
            out.write(
                json.dumps(
                    {
                        "id": rec["id"],
                        "query": rec["query"],
                        "task": tasks[i],
                        "demonstrations": [d.to_dict() for d in ds],
                        "prompt": prompt,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    out.flush()
    return 0
