"""The bf16 decision: gated by CPU flags, measured once, cached, overridable."""

from __future__ import annotations

import json

import torch

from llmr import device


def test_env_override(monkeypatch):
    device.cpu_has_native_bf16.cache_clear()
    monkeypatch.setenv("LLMR_CPU_BF16", "0")
    assert device.cpu_has_native_bf16() is False
    assert device.autocast_dtype("cpu") is None
    device.cpu_has_native_bf16.cache_clear()
    monkeypatch.setenv("LLMR_CPU_BF16", "1")
    assert device.cpu_has_native_bf16() is True
    assert device.autocast_dtype("cpu") == torch.bfloat16
    device.cpu_has_native_bf16.cache_clear()


def test_decision_is_measured_once_and_cached(monkeypatch, tmp_path):
    monkeypatch.delenv("LLMR_CPU_BF16", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def fake_measure(dtype, n=1024, reps=5):
        calls.append(dtype)
        return 800.0 if dtype == torch.bfloat16 else 200.0

    monkeypatch.setattr(device, "measure_matmul_gflops", fake_measure)
    device.cpu_has_native_bf16.cache_clear()
    first = device.cpu_has_native_bf16()
    cache = tmp_path / "llmr" / "cpu_bf16.json"
    if not calls:  # this CPU lacks bf16 flags: the measurement is never made
        assert first is False and not cache.exists()
        return
    assert first is True and len(calls) == 2
    assert all(v["bf16"] for v in json.loads(cache.read_text()).values())
    device.cpu_has_native_bf16.cache_clear()
    assert device.cpu_has_native_bf16() is True
    assert len(calls) == 2  # second decision read from the cache
    device.cpu_has_native_bf16.cache_clear()


def test_matmul_gflops_positive():
    assert device.measure_matmul_gflops(torch.float32, n=64, reps=3) > 0
