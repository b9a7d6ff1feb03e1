"""Fast cross-encoder scoring of (first, second) text pairs (the reward model / teacher).

``score_pairs`` tokenises every pair once, sorts the pairs by token length, and runs them
in batches bounded by a token budget (rows x padded length), so almost no compute goes to
padding. Weights run in bf16 where the hardware has it natively (``llmr.core.device``), under
``torch.inference_mode``; ``torch.compile`` is used when the job is large enough for the
compile time to pay off. ``llmr bench reward`` measures it against a plain loop.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence

import numpy as np
import torch

from llmr.core.device import precision_dtype
from llmr.models.lm import token_budget_batches  # noqa: F401  (shared batching; re-exported)

log = logging.getLogger(__name__)

# torch.compile costs tens of seconds on a CPU; below this many pairs eager is faster overall
COMPILE_MIN_PAIRS = 50_000


def fast_copy(model, precision: str = "auto"):
    """The model itself, or a copy with half-precision weights where ``precision`` says so.

    The caller's model is never modified (it may still be training).
    """
    dev = next(model.parameters()).device
    dtype = precision_dtype(precision, dev)
    if next(model.parameters()).dtype == dtype:
        return model
    return copy.deepcopy(model).to(dtype)


class Progress:
    """``n/N, rate, ETA`` log lines at most every ``every`` seconds."""

    def __init__(self, total: int, desc: str, enabled: bool = True, every: float = 10.0):
        self.total, self.desc, self.enabled, self.every = total, desc, enabled, every
        self.t0 = self.last = time.perf_counter()
        self.done = 0

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.last >= self.every or self.done == self.total):
            rate = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info(
                "%s: %d/%d pairs, %.1f pairs/s, ETA %.0f s",
                self.desc,
                self.done,
                self.total,
                rate,
                eta,
            )
            self.last = now


def tokenize_pairs(
    tokenizer, firsts: Sequence[str], seconds: Sequence[str], max_length: int
) -> dict[str, list[list[int]]]:
    """Tokenise all pairs once (``longest_first`` truncation, no padding)."""
    enc = tokenizer(
        list(firsts),
        list(seconds),
        truncation="longest_first",
        max_length=max_length,
        padding=False,
    )
    return {k: list(v) for k, v in enc.items() if k in ("input_ids", "token_type_ids")}


def score_pairs(
    model,
    tokenizer,
    firsts: Sequence[str],
    seconds: Sequence[str],
    max_length: int,
    token_budget: int,
    progress: bool = True,
    desc: str = "reward",
    precision: str = "auto",
    compile: bool | None = None,
) -> np.ndarray:
    """Cross-encoder scores of N pairs -> (N,) float32 (the first logit of each pair).

    ``precision``: ``auto | bf16 | fp16 | fp32`` weights for scoring (a copy is made when it
    differs from the model's). ``compile``: None = only when N >= ``COMPILE_MIN_PAIRS``.
    Pairs are truncated to ``max_length`` tokens (``longest_first``). ``max_length`` and
    ``token_budget`` have no defaults: the caller's (``reward.max_length``, ``teacher.token_budget``).
    """
    if len(firsts) != len(seconds):
        raise ValueError(f"{len(firsts)} firsts but {len(seconds)} seconds")
    n = len(firsts)
    out = np.zeros(n, dtype=np.float32)
    if n == 0:
        return out
    enc = tokenize_pairs(tokenizer, firsts, seconds, max_length)
    ids, types = enc["input_ids"], enc.get("token_type_ids")
    lengths = [len(x) for x in ids]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    run = fast_copy(model, precision)
    run.eval()
    if compile if compile is not None else n >= COMPILE_MIN_PAIRS:
        run = copy.copy(run) if run is model else run
        run.forward = torch.compile(run.forward, dynamic=True)
    dev = next(model.parameters()).device
    bar = Progress(n, desc, progress)
    try:
        with torch.inference_mode():
            for batch in token_budget_batches(lengths, token_budget):
                L = lengths[batch[0]]
                x = torch.full((len(batch), L), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), L), dtype=torch.long)
                tt = torch.zeros((len(batch), L), dtype=torch.long) if types else None
                for r, i in enumerate(batch):
                    x[r, : lengths[i]] = torch.tensor(ids[i])
                    mask[r, : lengths[i]] = 1
                    if tt is not None:
                        tt[r, : lengths[i]] = torch.tensor(types[i])
                kw = {"input_ids": x.to(dev), "attention_mask": mask.to(dev)}
                if tt is not None:
                    kw["token_type_ids"] = tt.to(dev)
                out[batch] = run(**kw).logits[:, 0].float().cpu().numpy()
                bar.update(len(batch))
    finally:
        model.train(was_training)
    return out
