"""Device and precision choices: CUDA when present, bf16 autocast on CPUs with native bf16."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch


def pick_device() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True if this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX) and fast.

    The CPU flags gate it; a measured check confirms it (bf16 matmul at least 1.5x the fp32
    rate). The measurement is made once per machine and torch version and cached in
    ``$XDG_CACHE_HOME/llmr/cpu_bf16.json``, so every job of a run, and every later run,
    takes the same decision (the scorer's dtype is part of its identity). Override with
    ``LLMR_CPU_BF16=0/1``.
    """
    import json
    import platform

    env = os.environ.get("LLMR_CPU_BF16")
    if env is not None:
        return env == "1"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    if "avx512_bf16" not in cpuinfo and "amx_bf16" not in cpuinfo:
        return False
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                  if ln.startswith("model name")), platform.processor())
    key = f"{model}|{os.cpu_count()}|torch {torch.__version__}"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmr"
    path = cache / "cpu_bf16.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        bf16 = measure_matmul_gflops(torch.bfloat16, n=1024, reps=8)
        fp32 = measure_matmul_gflops(torch.float32, n=1024, reps=8)
        known[key] = {"bf16": bf16 >= 1.5 * fp32, "bf16_gflops": bf16, "fp32_gflops": fp32}
        try:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, indent=1))
            os.replace(tmp, path)
        except OSError:
            pass
    return bool(known[key]["bf16"])


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
