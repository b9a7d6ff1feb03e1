"""The paper's released data from the Hugging Face hub (``suite.source: hub``).

The dataset repository ``intfloat/llm-retriever-tasks`` holds the files the paper's code
uses: ``train``, ``test``, ``passages`` (the suite) and ``bm25_train``, ``kd_bm25_train``,
``kd_it2_train`` (round-0 candidates and teacher scores, usable through ``given:``).
:func:`fetch_released` downloads one of them and validates it like a local released file.
"""

from __future__ import annotations

import logging
import shutil
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from llmr.core.io import CANDIDATE_FIELDS, RecordError, atomic_path, iter_jsonl, require_fields

log = logging.getLogger(__name__)

SUITE_FILES = ("train", "test", "passages")
CANDIDATE_FILES = ("bm25_train", "kd_bm25_train", "kd_it2_train")
RELEASED_FILES = SUITE_FILES + CANDIDATE_FILES


class HubUnreachable(RuntimeError):
    """No hub answers; the message says how to use a downloaded copy instead."""


def _advice(repo_id: str, why: str) -> str:
    return (
        f"cannot fetch the released data {repo_id!r} from the Hugging Face hub: {why}. "
        f"Download train.jsonl.gz, test.jsonl.gz and passages.jsonl.gz from "
        f"https://huggingface.co/datasets/{repo_id} on a machine that reaches the hub, copy "
        f"them into a folder here and set `suite.source: released` and "
        f"`suite.released_dir: <that folder>` in the config (candidate and teacher files such "
        f"as bm25_train.jsonl.gz go to `given:`)."
    )


def check_reachable(endpoint: str, timeout: float = 5.0) -> None:
    """Raise OSError unless a TCP connection to the endpoint's host opens within ``timeout``."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    with socket.create_connection((url.hostname or "", port), timeout=timeout):
        pass


def validate_released(path: str | Path, stem: str) -> int:
    """Validate a released file as the local reader does; returns its record count.

    Examples (train/test) and passages are read in full with the released-format readers;
    candidate files (``doc_ids`` / ``doc_scores``) are checked record by record here and
    against the passage pool when imported through ``given:``.
    """
    from llmr.data.tasks.released import read_examples, read_passages

    path = Path(path)
    if stem in ("train", "test"):
        return len(read_examples(path))
    if stem == "passages":
        return len(read_passages(path))
    n = 0
    for n, rec in enumerate(iter_jsonl(path), 1):
        where = f"{path}: record {n} (query_id={rec.get('query_id', '?')})"
        require_fields(rec, CANDIDATE_FIELDS, where)
        if len(rec["doc_ids"]) != len(rec["doc_scores"]):
            raise RecordError(f"{where}: doc_ids and doc_scores differ in length")
    if n == 0:
        raise RecordError(f"{path}: no records")
    return n


def fetch_released(
    name: str,
    out: str,
    *,
    repo_id: str,
    revision: str | None,
    endpoint: str | None = None,
    timeout: float = 5.0,
) -> None:
    """Download ``<name>.jsonl.gz`` of the released data to ``out`` and validate it.

    Fails at once with :class:`HubUnreachable` (naming ``suite.released_dir``) when the hub
    cannot be reached or offline mode is set and the file is not in the local cache.
    """
    from huggingface_hub import constants, errors, hf_hub_download

    if name not in RELEASED_FILES:
        raise ValueError(f"unknown released file {name!r}; one of {RELEASED_FILES}")
    filename = f"{name}.jsonl.gz"
    endpoint = endpoint or constants.ENDPOINT
    kwargs: dict[str, Any] = {
        "repo_id": repo_id,
        "filename": filename,
        "repo_type": "dataset",
        "revision": revision,
    }
    if endpoint != constants.ENDPOINT:
        kwargs["endpoint"] = endpoint
    if constants.HF_HUB_OFFLINE:
        try:
            cached = hf_hub_download(**kwargs, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - any miss means "not cached"
            raise HubUnreachable(
                _advice(
                    repo_id,
                    f"offline mode is set (HF_HUB_OFFLINE) and {filename} is not cached ({e})",
                )
            ) from None
    else:
        try:
            check_reachable(endpoint, timeout)
        except OSError as e:
            raise HubUnreachable(_advice(repo_id, f"{endpoint} does not answer ({e})")) from None
        try:
            cached = hf_hub_download(**kwargs, etag_timeout=timeout)
        except (
            errors.RepositoryNotFoundError,
            errors.RevisionNotFoundError,
            errors.EntryNotFoundError,
        ):
            raise  # the hub answered: a wrong repo id, revision or file name
        except Exception as e:  # noqa: BLE001 - connection errors of any HTTP client
            raise HubUnreachable(_advice(repo_id, f"{type(e).__name__}: {e}")) from None
    n = validate_released(cached, name)
    with atomic_path(out) as tmp:
        shutil.copyfile(cached, tmp)
    log.info("%s: %d records from %s/%s", out, n, repo_id, filename)


def released_root(source: Any) -> str:
    """Folder of the fetched suite files (the prepare rule's inputs for ``source: hub``)."""
    if isinstance(source, list | tuple):
        parents = {str(Path(str(p)).parent) for p in source}
        if len(parents) != 1:
            raise ValueError(f"hub suite files in several folders: {sorted(parents)}")
        return parents.pop()
    return str(source)
