"""Fast CPU training kernels for Hugging Face encoders: dropout and attention.

Measured on a 2-core CPU (docs/BENCHMARKS.md, "Training speed"), two things, not the
matrix multiplications, took most of a MiniLM training step:

- **Dropout masks.** torch draws one Mersenne-Twister number per element on the CPU, about
  100x the cost of the multiplication it masks; with attention dropout the (B, heads, L, L)
  probabilities need one per element in every layer. ``fast_dropout`` draws the mask's bits
  from numpy's SFC64 generator in bulk (16 bits per element), seeded by one draw from torch's
  generator, so runs stay seeded and a resumed run (which restores torch's RNG state) draws
  the same masks. The keep probability is quantised to 1/65536 and the scale is its exact
  inverse, so the expectation is unchanged.
- **Attention.** At these shapes (tens to a few hundred tokens, head size 32-64) torch's
  fused CPU attention is slow in bf16, above all in the backward pass, and the unfused
  path materialises (B, heads, L, L) tensors larger than the caches. ``chunked_attention``
  computes softmax(q k^T * scale + mask) v in row chunks of at most ``ATTENTION_CHUNK``
  score elements, softmax in fp32, with ``fast_dropout`` on the probabilities.

- **Page faults.** glibc's malloc maps every large block fresh from the kernel and unmaps it
  when freed, so each step re-faults (zero-fills) its activations: system time rivalled
  user time. ``tune_allocator`` keeps freed memory in the process for reuse (heap only,
  trimmed past 2 GiB free), once per process.

Both compute the same function as the kernels they replace (without dropout: the same loss
up to float rounding, pinned by tests; with dropout: the same distribution of masks).
``install(model)`` switches a model to them in place (CPU only; GPUs keep torch's fused
kernels) and returns a function that switches it back before the model is saved.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

ATTENTION_NAME = "llmr_cpu"
ATTENTION_CHUNK = 1 << 20  # score elements (rows x heads x Lq x Lk) per attention chunk
_LEVELS = 1 << 16  # dropout probabilities are quantised to 1/65536


@functools.cache
def tune_allocator() -> bool:
    """Make glibc's malloc reuse freed memory instead of returning it to the kernel.

    ``mallopt``: no mmap'd blocks (M_MMAP_MAX 0), trim the heap only past 2 GiB free
    (M_TRIM_THRESHOLD), grow it 256 MiB at a time (M_TOP_PAD). Returns False where the C
    library is not glibc (nothing changes there).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-4, 0) and libc.mallopt(-1, 2**31 - 1)
        return bool(ok and libc.mallopt(-2, 256 << 20))
    except (OSError, AttributeError):
        return False


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float) -> tuple[torch.Tensor, float]:
    """(keep mask of ``shape`` (bool), scale) for dropout probability ``p``.

    One 62-bit seed is drawn from torch's default generator, then 16 random bits per element
    from numpy's SFC64; an element is kept when its bits are >= round(p * 65536). ``scale``
    = 65536 / (65536 - that threshold), the inverse of the exact keep probability.
    """
    n = int(np.prod(shape))
    threshold = int(round(p * _LEVELS))
    seed = int(torch.randint(0, 2**62, (1,)).item())
    bits = np.frombuffer(np.random.Generator(np.random.SFC64(seed)).bytes(2 * n), np.uint16)
    keep = torch.from_numpy(bits >= threshold).view(shape)
    return keep, _LEVELS / (_LEVELS - threshold)


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout of ``x`` (any shape) with probability ``p`` (identity when not training)."""
    if not training or p <= 0.0:
        return x
    if p >= 1.0:
        return x * 0.0
    keep, scale = dropout_mask(x.shape, p)
    return x * keep.to(x.device) * scale


class FastDropout(nn.Dropout):
    """``nn.Dropout`` computed by ``fast_dropout`` (same ``p``, same state dict)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_dropout(x, self.p, self.training)


def chunked_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention for Hugging Face's ``AttentionInterface``.

    query: (B, heads, Lq, D); key, value: (B, heads, Lk, D); attention_mask: None, bool
    (B or 1, 1, Lq or 1, Lk) with True = attend, or additive float of that shape.
    Returns ((B, Lq, heads, D), None) like the library's kernels.
    """
    b, h, lq, d = query.shape
    lk = key.shape[-2]
    scale = d**-0.5 if scaling is None else scaling
    rows = max(1, ATTENTION_CHUNK // max(1, h * lq * lk))
    outs = []
    for s in range(0, b, rows):
        scores = torch.matmul(query[s : s + rows], key[s : s + rows].transpose(-1, -2)) * scale
        if attention_mask is not None:
            m = attention_mask[s : s + rows] if attention_mask.shape[0] > 1 else attention_mask
            if m.dtype == torch.bool:
                scores = scores.masked_fill_(~m, torch.finfo(scores.dtype).min)
            else:
                scores = scores + m
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        probs = fast_dropout(probs, dropout, dropout > 0.0)
        outs.append(torch.matmul(probs.to(value.dtype), value[s : s + rows]))
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    """Register ``chunked_attention`` (and the sdpa mask format) under ``ATTENTION_NAME``."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, chunked_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)


def install(model: nn.Module) -> Callable[[], None]:
    """Switch ``model`` (a Hugging Face encoder on the CPU) to the fast kernels in place.

    Every ``nn.Dropout`` becomes a ``FastDropout``; attention becomes ``chunked_attention``
    where the model supports choosing it. Returns ``restore()``, which switches back (call it
    before ``save_pretrained``). On a GPU nothing changes (torch's fused kernels are fast
    there) and ``restore`` does nothing.
    """
    if next(model.parameters()).device.type != "cpu":
        return lambda: None
    tune_allocator()
    swapped = [m for m in model.modules() if type(m) is nn.Dropout]
    for m in swapped:
        m.__class__ = FastDropout
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    switched = False
    if before is not None and hasattr(model, "set_attn_implementation"):
        _register()
        try:
            model.set_attn_implementation(ATTENTION_NAME)
            switched = True
        except (ValueError, KeyError, NotImplementedError) as e:  # a model without the choice
            log.info("fast attention not available for %s: %s", type(model).__name__, e)
    log.info(
        "fast CPU kernels: %d dropout modules%s",
        len(swapped),
        ", chunked attention" if switched else "",
    )

    def restore() -> None:
        for m in swapped:
            m.__class__ = nn.Dropout
        if switched:
            model.set_attn_implementation(before)

    return restore
