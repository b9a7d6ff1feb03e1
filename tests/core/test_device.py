"""Precision decisions: CPU flags (no timing, no home-folder cache), explicit names, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from llmr.core import device


def test_env_override(monkeypatch):
    device.cpu_has_native_bf16.cache_clear()
    monkeypatch.setenv("LLMR_CPU_BF16", "0")
    assert device.cpu_has_native_bf16() is False
    assert device.autocast_dtype("cpu") is None
    assert device.resolve_precision("auto", "cpu") == "fp32"
    device.cpu_has_native_bf16.cache_clear()
    monkeypatch.setenv("LLMR_CPU_BF16", "1")
    assert device.cpu_has_native_bf16() is True
    assert device.autocast_dtype("cpu") == torch.bfloat16
    assert device.resolve_precision("auto", "cpu") == "bf16"
    device.cpu_has_native_bf16.cache_clear()


def test_decision_follows_cpu_flags_and_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("LLMR_CPU_BF16", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))

    def boom(*a, **k):
        raise AssertionError("the decision must not time anything")

    monkeypatch.setattr(device, "measure_matmul_gflops", boom)
    device.cpu_has_native_bf16.cache_clear()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    expect = "avx512_bf16" in flags or "amx_bf16" in flags
    assert device.cpu_has_native_bf16() is expect
    assert list(tmp_path.iterdir()) == []  # no cache file anywhere under the home folder
    device.cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("bf16", "bf16"),
        ("fp16", "fp16"),
        ("fp32", "fp32"),
        ("float32", "fp32"),
        ("bfloat16", "bf16"),
    ],
)
def test_explicit_precision_is_kept(name, want):
    assert device.resolve_precision(name, "cpu") == want
    assert (
        device.precision_dtype(name)
        == {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[want]
    )


def test_unknown_precision_raises():
    with pytest.raises(ValueError, match="unknown precision"):
        device.resolve_precision("int8")


def test_matmul_gflops_positive():
    assert device.measure_matmul_gflops(torch.float32, n=64, reps=3) > 0
