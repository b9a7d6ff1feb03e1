"""Building an export folder (rule export_retriever): the format is in ``llmr.export.manifest``."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from llmr.core.io import (
    PASSAGE_FIELDS,
    _json_default,
    atomic_path,
    read_json,
    read_parquet,
    write_json,
)
from llmr.export.manifest import (
    _ENCODER_SUFFIXES,
    DENSE_INDEX_FILES,
    ENCODER_DIR,
    FORMAT,
    FORMAT_VERSION,
    INDEX_DIR,
    MANIFEST,
    MANIFEST_DIGEST,
    POOL_FILE,
    ExportError,
    _checksums,
    manifest_digest,
)

log = logging.getLogger(__name__)


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
    *,
    pooling: str,
    query_prefix: str,
    passage_prefix: str,
    k: int,
    n_retrieve_factor: int,
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
