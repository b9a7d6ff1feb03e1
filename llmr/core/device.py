"""Device and precision choices: CUDA when present; bf16 where the hardware has it natively.

Precision names: ``auto | bf16 | fp16 | fp32`` (``resolve_precision``).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch


def pick_device() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
_ALIASES = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float32": "fp32",
    "float": "fp32",
}


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True if the CPU flags advertise native bf16 matmuls (AVX512-BF16 or AMX-BF16).

    Decided from ``/proc/cpuinfo`` alone: no timing, nothing cached on disk, so the same
    machine type always gives the same answer. ``LLMR_CPU_BF16=0/1`` overrides it (tests).
    """
    env = os.environ.get("LLMR_CPU_BF16")
    if env is not None:
        return env == "1"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in cpuinfo or "amx_bf16" in cpuinfo


def resolve_precision(precision: str = "auto", device: str | torch.device | None = None) -> str:
    """``auto | bf16 | fp16 | fp32`` (or a torch dtype name) -> ``bf16 | fp16 | fp32``.

    ``auto``: bf16 on GPUs that support it, else fp16 on GPUs; bf16 on CPUs with native
    bf16, else fp32. A pipeline resolves ``auto`` once (when the workflow is planned) and
    passes the result to every job, so all jobs of a run use the same precision.
    """
    name = _ALIASES.get(str(precision).replace("torch.", ""), str(precision))
    if name != "auto":
        if name not in _DTYPES:
            raise ValueError(f"unknown precision {precision!r} (one of {PRECISIONS})")
        return name
    dt = autocast_dtype(device or pick_device())
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dt, "fp32")


def precision_dtype(
    precision: str = "auto", device: str | torch.device | None = None
) -> torch.dtype:
    """The torch dtype of a precision name (``auto`` resolved for ``device``)."""
    return _DTYPES[resolve_precision(precision, device)]


def measure_matmul_gflops(dtype: torch.dtype, n: int = 1024, reps: int = 5) -> float:
    """Measured square-matmul throughput on the CPU in GFLOP/s for ``dtype``."""
    import time

    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / sorted(times)[len(times) // 2] / 1e9  # median: robust to other load


def matmul_rates() -> dict[str, float]:
    """This machine's square-matmul rates now: {bf16_matmul_gflops, fp32_matmul_gflops}."""
    return {
        "bf16_matmul_gflops": measure_matmul_gflops(torch.bfloat16),
        "fp32_matmul_gflops": measure_matmul_gflops(torch.float32),
    }


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
