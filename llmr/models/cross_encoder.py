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
from dataclasses import dataclass

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


def longest_first(n1: int, n2: int, budget: int) -> tuple[int, int]:
    """Tokens kept of each segment of a pair under ``longest_first`` truncation to
    ``budget`` tokens (special tokens excluded), as Hugging Face's fast tokenizers decide it:
    the shorter segment keeps its length if the longer can fill the rest, otherwise both
    get half, the longer (the second on a tie) taking the odd token."""
    if n1 + n2 <= budget:
        return n1, n2
    short, long_ = (n2, n1) if n1 > n2 else (n1, n2)
    long_ = short if short > budget else max(short, budget - short)
    if short + long_ > budget:
        short, long_ = budget // 2, budget // 2 + budget % 2
    return (long_, short) if n1 > n2 else (short, long_)


@dataclass(frozen=True)
class PairLayout:
    """Where a tokenizer puts its special tokens around a pair: ``prefix + first + middle +
    second + suffix``, with the token type of each part (None: no token-type ids)."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    types: tuple[tuple[int, ...], int, tuple[int, ...], int, tuple[int, ...]] | None

    @property
    def n_special(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def build(self, a: list[int], b: list[int]) -> tuple[list[int], list[int] | None]:
        ids = [*self.prefix, *a, *self.middle, *b, *self.suffix]
        if self.types is None:
            return ids, None
        tp, ta, tm, tb, ts = self.types
        return ids, [*tp, *[ta] * len(a), *tm, *[tb] * len(b), *ts]


def pair_layout(tokenizer) -> PairLayout | None:
    """The tokenizer's pair template, read off two probe pairs and checked on a third;
    None when its pairs are not ``prefix + first + middle + second + suffix``."""
    probes = [("a", "b"), ("a b a", "b a"), ("b", "a b a b")]
    singles = tokenizer([s for p in probes for s in p], add_special_tokens=False)["input_ids"]
    pairs = tokenizer([p[0] for p in probes], [p[1] for p in probes])
    layouts = []
    for i in range(len(probes)):
        a, b = singles[2 * i], singles[2 * i + 1]
        ids = pairs["input_ids"][i]
        types = pairs["token_type_ids"][i] if "token_type_ids" in pairs else None
        found = _split_pair(ids, types, a, b)
        if found is None:
            return None
        layouts.append(found)
    return layouts[0] if all(x == layouts[0] for x in layouts) else None


def _split_pair(ids, types, a, b) -> PairLayout | None:
    la, lb = len(a), len(b)
    for i in range(len(ids) - la - lb + 1):
        if list(ids[i : i + la]) != list(a):
            continue
        for j in range(i + la, len(ids) - lb + 1):
            if list(ids[j : j + lb]) != list(b):
                continue
            part_types = None
            if types is not None:
                ta, tb = set(types[i : i + la]), set(types[j : j + lb])
                if len(ta) != 1 or len(tb) != 1:
                    continue
                part_types = (
                    tuple(types[:i]),
                    ta.pop(),
                    tuple(types[i + la : j]),
                    tb.pop(),
                    tuple(types[j + lb :]),
                )
            return PairLayout(
                tuple(ids[:i]), tuple(ids[i + la : j]), tuple(ids[j + lb :]), part_types
            )
    return None


def tokenize_pairs(
    tokenizer, firsts: Sequence[str], seconds: Sequence[str], max_length: int
) -> dict[str, list[list[int]]]:
    """Tokenise all pairs once (``longest_first`` truncation to ``max_length``, no padding):
    ``input_ids`` and, where the tokenizer gives them, ``token_type_ids``.

    The same ids as ``tokenizer(firsts, seconds, truncation="longest_first")``, built from
    each segment's own tokens: the fast tokenizers' pair truncation keeps every overflowing
    window of both segments and pairs them all, so two texts of a few thousand tokens cost
    gigabytes (64 such pairs at ``max_length`` 64: 4.4 GB). Tokenizers whose pair template
    is not a prefix/middle/suffix around the segments take the tokenizer's own path.
    """
    layout = pair_layout(tokenizer)
    if layout is None:
        enc = tokenizer(
            list(firsts), list(seconds), truncation="longest_first", max_length=max_length
        )
        return {k: list(v) for k, v in enc.items() if k in ("input_ids", "token_type_ids")}
    a_ids = tokenizer(list(firsts), add_special_tokens=False, verbose=False)["input_ids"]
    b_ids = tokenizer(list(seconds), add_special_tokens=False, verbose=False)["input_ids"]
    budget = max(max_length - layout.n_special, 0)
    ids, types = [], []
    for a, b in zip(a_ids, b_ids, strict=True):
        k1, k2 = longest_first(len(a), len(b), budget)
        row, row_types = layout.build(list(a[:k1]), list(b[:k2]))
        ids.append(row)
        types.append(row_types)
    out = {"input_ids": ids}
    if layout.types is not None:
        out["token_type_ids"] = types
    return out


def pad_rows(tokenizer, rows: list[list[int]]) -> dict[str, torch.Tensor]:
    """Token-id rows -> ``input_ids`` and ``attention_mask`` (R, L), padded with the
    tokenizer's pad id on its padding side to the longest row."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    for i, r in enumerate(rows):
        span = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, span] = torch.tensor(r, dtype=torch.long)
        mask[i, span] = 1
    return {"input_ids": ids, "attention_mask": mask}


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
