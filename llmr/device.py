"""Device and precision choices: CUDA when present, bf16 autocast on CPUs with native bf16."""

from __future__ import annotations

import contextlib
import functools
import os

import torch


def pick_device() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True if this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX).

    Decided by reading the CPU flags and confirmed by a measured check: a bf16 matmul must
    not be slower than fp32. ``LLMR_CPU_BF16=0/1`` overrides.
    """
    env = os.environ.get("LLMR_CPU_BF16")
    if env is not None:
        return env == "1"
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        flags = ""
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:
        return False
    return measure_matmul_gflops(torch.bfloat16, n=512, reps=3) >= measure_matmul_gflops(
        torch.float32, n=512, reps=3
    )


def measure_matmul_gflops(dtype: torch.dtype, n: int = 1024, reps: int = 5) -> float:
    """Measured square-matmul throughput on the CPU in GFLOP/s for ``dtype``."""
    import time

    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    dt = time.perf_counter() - t0
    return 2 * n**3 * reps / dt / 1e9


def autocast_dtype(device: str | torch.device) -> torch.dtype | None:
    """The autocast dtype for ``device``: bf16 on capable GPUs/CPUs, fp16 on older GPUs."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else None


def autocast_context(device: str | torch.device):
    """An autocast context for ``device`` (a no-op where no fast dtype exists)."""
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
