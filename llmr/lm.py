"""Causal-LM ground floor: loading, log-prob scoring, constrained decoding, greedy generation.

Shared by the LLM-score stage (``llmr.score``) and the evaluation. Conventions:

* A context is tokenised with the tokenizer's special tokens (e.g. BOS); a continuation is
  tokenised on its own, *as the text that follows a newline* (``"\\n" + text`` minus the
  tokens of ``"\\n"``; falls back to plain tokenisation if that prefix does not match), so
  its tokens are exactly the continuation's and identical wherever it is scored or decoded.
* Sequences are truncated from the LEFT to ``max_length`` tokens: context tokens go first.
  If a continuation alone has ``max_length`` tokens or more, only its last
  ``max_length - 1`` tokens are scored (the first token of the window is never scored).
* Speed: pairs are sorted by length and batched by a token budget (rows x padded length);
  the decoder runs to hidden states, and the LM head is applied (in fp32) only at the
  positions that predict continuation tokens. bf16 autocast is used on GPUs and on CPUs
  with native bf16 (``llmr.device``), unless the model's weights are already half precision.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llmr.device import autocast_dtype, pick_device

log = logging.getLogger(__name__)

_ANCHOR = "\n"


# ----------------------------------------------------------------------------- loading


def _looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id ("org/name" or "name")."""
    return path.startswith((".", "/", "~")) or path.count("/") >= 2 or Path(path).exists()


def load_causal_lm(
    path: str,
    device: str | None = None,
    gguf_file: str | None = None,
    dtype: torch.dtype | str | None = "auto",
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer (local folder, hub id, or ``gguf_file`` inside it).

    The model is in eval mode on ``device`` (default: ``pick_device()``). ``dtype="auto"``
    stores the weights in bf16 on GPUs and native-bf16 CPUs (``llmr.device.autocast_dtype``;
    measured ~1.5x faster than fp32 weights under autocast on CPU) and fp32 elsewhere;
    ``None`` keeps the checkpoint's dtype; or name one ("float32"). A pad token is set if missing
    (EOS, else a new ``<pad>``). Raises FileNotFoundError for a missing local path and
    ValueError for a model without a causal-LM head.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = str(path)
    if _looks_local(path) and not Path(path).expanduser().exists():
        raise FileNotFoundError(f"causal LM not found: {path}")
    if gguf_file and Path(path).is_dir() and not (Path(path) / gguf_file).exists():
        raise FileNotFoundError(f"GGUF file not found: {Path(path) / gguf_file}")
    kw: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        config = AutoConfig.from_pretrained(path, **kw)
    except OSError as e:
        raise FileNotFoundError(f"cannot load causal LM {path!r}: {e}") from e
    archs = list(getattr(config, "architectures", None) or [])
    if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        raise ValueError(f"{path}: model {archs} has no causal-LM head (expected *ForCausalLM)")
    device = device or pick_device()
    if dtype == "auto":
        dtype = autocast_dtype(device) or torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if dtype is not None:
        kw["dtype"] = dtype
    try:
        model, info = AutoModelForCausalLM.from_pretrained(path, output_loading_info=True, **kw)
    except ValueError as e:
        raise ValueError(f"{path}: cannot load as a causal LM ({e})") from e
    head = model.get_output_embeddings()
    missing = [k for k in info.get("missing_keys", []) if "lm_head" in k or "predictions" in k]
    tied = getattr(model.config, "tie_word_embeddings", False)
    if head is None or (missing and not tied):
        raise ValueError(f"{path}: checkpoint has no trained causal-LM head (missing {missing})")
    tok = AutoTokenizer.from_pretrained(path, **({"gguf_file": gguf_file} if gguf_file else {}))
    if tok.pad_token is None:
        if tok.eos_token is not None:
            tok.pad_token = tok.eos_token
        else:
            tok.add_special_tokens({"pad_token": "<pad>"})
            model.resize_token_embeddings(len(tok))
    model.eval()
    model.to(device)
    return model, tok


def compile_model(model):
    """Compile the decoder body with ``torch.compile(dynamic=True)`` (in place; returns model).

    Fuses the memory-bound element-wise ops (RMSNorm, rotary, SiLU): measured ~2x on the
    2-core CPU for SmolLM2-135M, after a one-off compile of ~1 minute. Worth it for long
    scoring jobs only. Falls back to eager (with a warning) if compilation is unavailable.
    """
    dec = _decoder(model)
    if getattr(dec, "_llmr_compiled", False):
        return model
    try:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True  # a failing backend falls back to eager
        dec.forward = torch.compile(dec.forward, dynamic=True)
        dec._llmr_compiled = True
    except Exception as e:  # noqa: BLE001 - any backend problem means: stay eager
        log.warning("torch.compile unavailable (%s); running eager", e)
    return model


# ----------------------------------------------------------------------------- internals


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _precision(model) -> contextlib.AbstractContextManager:
    """Autocast for fp32 weights where a fast half type exists; no-op otherwise."""
    dev = _device(model)
    if next(model.parameters()).dtype != torch.float32:
        return contextlib.nullcontext()
    dt = autocast_dtype(dev)
    if dt is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=dt)


@functools.cache
def _cache_kw(cls: type) -> str:
    params = inspect.signature(cls.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _decoder(model):
    dec = model.get_decoder() if hasattr(model, "get_decoder") else None
    return dec if dec is not None else model.model


def _forward(model, ids: torch.Tensor, mask=None, pos=None, cache=None, use_cache=False):
    """Run the decoder body. ids (B, T) -> (hidden (B, T, H), cache)."""
    dec = _decoder(model)
    kw = {_cache_kw(type(dec)): cache} if cache is not None else {}
    out = dec(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=use_cache, **kw)
    if not use_cache:
        return out.last_hidden_state, None
    new_cache = getattr(out, "cache", None)
    if new_cache is None:  # transformers < 5.x names it past_key_values
        new_cache = getattr(out, "past_key_values", None)
    return out.last_hidden_state, new_cache


def _head_logits(model, h: torch.Tensor) -> torch.Tensor:
    """LM head in fp32. h (K, H) -> logits (K, V) float32."""
    head = model.get_output_embeddings()
    w = head.weight
    if w.dtype != torch.float32:  # keep one fp32 copy of a half-precision head
        cached = getattr(head, "_llmr_fp32", None)
        if cached is None or cached[0] != w.data_ptr():
            cached = (w.data_ptr(), w.detach().float())
            head._llmr_fp32 = cached
        w = cached[1]
    b = head.bias.float() if getattr(head, "bias", None) is not None else None
    with torch.autocast(device_type=h.device.type, enabled=False):
        logits = torch.nn.functional.linear(h.float(), w, b)
    scale = getattr(model.config, "logit_scale", None)
    if scale:
        logits = logits * scale
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def encode_contexts(tok, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of contexts (with the tokenizer's special tokens; never empty)."""
    if not texts:
        return []
    ids = tok(list(texts), add_special_tokens=True)["input_ids"]
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    return [list(x) if len(x) else [start] for x in ids]


def encode_continuations(tok, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of continuations, tokenised as the text following a newline."""
    if not texts:
        return []
    anchor = tok(_ANCHOR, add_special_tokens=False)["input_ids"]
    joined = tok([_ANCHOR + t for t in texts], add_special_tokens=False)["input_ids"]
    out = []
    for t, ids in zip(texts, joined, strict=True):
        if list(ids[: len(anchor)]) == list(anchor):
            out.append(list(ids[len(anchor) :]))
        else:
            out.append(list(tok(t, add_special_tokens=False)["input_ids"]))
    return out


def _pairs(ctx: list[int], cont: list[int], max_length: int) -> tuple[list[int], int]:
    """Left-truncated sequence and number of scored (trailing) tokens."""
    seq = (ctx + cont)[-max_length:]
    return seq, min(len(cont), len(seq) - 1)


def _budget_batches(lengths: Sequence[int], token_budget: int) -> Iterator[list[int]]:
    """Indices sorted by length (longest first), grouped so rows x max length <= budget."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) + 1) * lengths[batch[0]] > token_budget:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _pad_right(seqs: Sequence[Sequence[int]], pad: int, device) -> torch.Tensor:
    L = max(len(s) for s in seqs)
    out = torch.full((len(seqs), L), pad, dtype=torch.long)
    for r, s in enumerate(seqs):
        out[r, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out.to(device)


def _pad_id(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)


def _progress(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, desc=desc, unit="seq", mininterval=5)


def score_sequences(
    model,
    tok,
    seqs: Sequence[Sequence[int]],
    n_scored: Sequence[int],
    token_budget: int = 16384,
    progress: bool = False,
    desc: str = "score",
) -> np.ndarray:
    """Average log-prob of the last ``n_scored[i]`` tokens of each id sequence.

    seqs: N id lists (each at least n_scored + 1 long) -> (N,) float32. Sorted by length,
    batched by ``token_budget``, right padding without an attention mask (exact for a
    causal model: real tokens never see the pads that follow them).
    """
    out = np.zeros(len(seqs), dtype=np.float32)
    dev, pad = _device(model), _pad_id(tok)
    bar = _progress(len(seqs), progress, desc)
    with torch.inference_mode():
        for batch in _budget_batches([len(s) for s in seqs], token_budget):
            ids = _pad_right([seqs[i] for i in batch], pad, dev)
            with _precision(model):
                hidden, _ = _forward(model, ids)  # (B, L, H)
            rows, cols, row_of = [], [], []
            for r, i in enumerate(batch):
                n, L = n_scored[i], len(seqs[i])
                cols.extend(range(L - n - 1, L - 1))
                rows.extend([r] * n)
                row_of.append(n)
            rows_t = torch.tensor(rows, device=dev)
            cols_t = torch.tensor(cols, device=dev)
            logp = torch.log_softmax(_head_logits(model, hidden[rows_t, cols_t]), dim=-1)
            tok_lp = logp.gather(1, ids[rows_t, cols_t + 1].unsqueeze(1)).squeeze(1)  # (K,)
            sums = torch.zeros(len(batch), device=dev).index_add_(0, rows_t, tok_lp)
            means = sums / torch.tensor(row_of, device=dev, dtype=torch.float32)
            out[batch] = means.cpu().numpy()
            bar.update(len(batch))
    bar.close()
    return out


# ----------------------------------------------------------------------------- public API


def score_continuations(
    model,
    tok,
    contexts: Sequence[str],
    continuations: Sequence[str],
    max_length: int = 1024,
    token_budget: int = 16384,
    progress: bool = True,
    desc: str = "score",
) -> np.ndarray:
    """Average log-prob of each continuation's tokens given its context.

    N contexts, N continuations -> (N,) float32. Left truncation to ``max_length`` (module
    docstring). An empty continuation raises ValueError naming its index.
    """
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
    if max_length < 2:
        raise ValueError("max_length must be at least 2")
    for i, c in enumerate(continuations):
        if not c:
            raise ValueError(f"continuation {i} is empty")
    conts = encode_continuations(tok, continuations)
    for i, c in enumerate(conts):
        if not c:
            raise ValueError(f"continuation {i} ({continuations[i]!r}) has no tokens")
    ctxs = encode_contexts(tok, contexts)
    built = [_pairs(a, b, max_length) for a, b in zip(ctxs, conts, strict=True)]
    n_cut = sum(len(b) >= max_length for b in conts)
    if n_cut:
        log.warning("%d continuation(s) longer than max_length=%d: scored their last %d tokens",
                    n_cut, max_length, max_length - 1)
    return score_sequences(
        model, tok, [s for s, _ in built], [n for _, n in built], token_budget, progress, desc
    )


def _prompt_pass(model, tok, prompt_ids: list[list[int]]):
    """Run right-padded prompts once.

    Returns (cache, mask (B, P) long, lengths (B,), last hidden (B, H)).
    """
    dev = _device(model)
    ids = _pad_right(prompt_ids, _pad_id(tok), dev)
    lengths = torch.tensor([len(p) for p in prompt_ids], device=dev)
    mask = (torch.arange(ids.shape[1], device=dev)[None, :] < lengths[:, None]).long()
    with _precision(model):
        hidden, cache = _forward(model, ids, mask=mask, use_cache=True)
    last = hidden[torch.arange(len(prompt_ids), device=dev), lengths - 1]
    return cache, mask, lengths, last


def _step(model, cache, mask, ids: torch.Tensor, pos: torch.Tensor):
    """Append ids (B, T) at positions pos (B, T) to the cache. -> (hidden (B, T, H), mask)."""
    mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
    with _precision(model):
        hidden, cache = _forward(model, ids, mask=mask, pos=pos, cache=cache, use_cache=True)
    return hidden, mask


def score_options(
    model,
    tok,
    prompts: Sequence[str],
    options: Sequence[Sequence[str]],
    max_length: int = 1024,
    token_budget: int = 16384,
    progress: bool = False,
    desc: str = "options",
) -> list[np.ndarray]:
    """Average log-prob of each option given its prompt; one prompt pass per prompt.

    prompts: N strings; options: N lists -> N arrays of shape (n_options_i,) float32.
    Each prompt is run once; its KV cache is repeated over its options, which are then run
    together. The prompt is left-truncated so that its longest option fits ``max_length``.
    """
    if len(prompts) != len(options):
        raise ValueError(f"{len(prompts)} prompts but {len(options)} option lists")
    flat = [o for opts in options for o in opts]
    for i, opts in enumerate(options):
        if not opts:
            raise ValueError(f"prompt {i} has no options")
        for j, o in enumerate(opts):
            if not o:
                raise ValueError(f"prompt {i}: option {j} is empty")
    flat_ids = encode_continuations(tok, flat)
    opt_ids: list[list[list[int]]] = []
    k = 0
    for opts in options:
        ids = [c[-(max_length - 1) :] for c in flat_ids[k : k + len(opts)]]
        opt_ids.append(ids)
        k += len(opts)
    ctx = encode_contexts(tok, prompts)
    ctx = [c[-(max_length - max(len(o) for o in opt_ids[i])) :] for i, c in enumerate(ctx)]
    results: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(prompts)
    dev, pad = _device(model), _pad_id(tok)
    bar = _progress(len(prompts), progress, desc)
    with torch.inference_mode():
        for batch in _budget_batches([len(c) for c in ctx], token_budget):
            cache, mask, lengths, last = _prompt_pass(model, tok, [ctx[i] for i in batch])
            counts = [len(opt_ids[i]) for i in batch]
            rep = torch.repeat_interleave(torch.arange(len(batch), device=dev),
                                          torch.tensor(counts, device=dev))
            cache.batch_select_indices(rep)
            opts = [o for i in batch for o in opt_ids[i]]
            ids = _pad_right(opts, pad, dev)  # (R, T)
            pos = lengths[rep][:, None] + torch.arange(ids.shape[1], device=dev)[None, :]
            hidden, _ = _step(model, cache, mask[rep], ids, pos)  # (R, T, H)
            # the first option token is predicted by the prompt's last hidden state
            h = torch.cat([last[rep][:, None, :], hidden[:, :-1]], dim=1)  # (R, T, H)
            valid = torch.arange(ids.shape[1], device=dev)[None, :] < torch.tensor(
                [len(o) for o in opts], device=dev)[:, None]
            logp = torch.log_softmax(_head_logits(model, h[valid]), dim=-1)
            tok_lp = logp.gather(1, ids[valid].unsqueeze(1)).squeeze(1)
            full = torch.zeros(ids.shape, device=dev)
            full[valid] = tok_lp
            means = (full.sum(1) / valid.sum(1)).cpu().numpy().astype(np.float32)
            k = 0
            for i, n in zip(batch, counts, strict=True):
                results[i] = means[k : k + n]
                k += n
            bar.update(len(batch))
    bar.close()
    return results


class _Trie:
    """Prefix trie over token sequences; a node is a dict token -> child, label at the end."""

    def __init__(self, seqs: Sequence[Sequence[int]], labels: Sequence[str]):
        self.root: dict = {}
        for seq, label in zip(seqs, labels, strict=True):
            node = self.root
            for t in seq:
                node = node.setdefault(t, {})
            node.setdefault(None, label)  # first label wins on identical token sequences


def constrained_decode(
    model,
    tok,
    prompts: Sequence[str],
    labels: Sequence[str],
    max_length: int = 1024,
    token_budget: int = 16384,
) -> list[str]:
    """Greedy decoding restricted to ``labels`` (each followed by a newline).

    N prompts -> N label strings. Each label is tokenised as ``label + "\\n"`` following a
    newline; decoding walks a prefix trie over those sequences, taking the most likely
    allowed token at each step, so multi-token labels and labels that are prefixes of other
    labels are all reachable. One prompt pass plus (trie depth) cached steps per batch.
    """
    if not labels:
        raise ValueError("constrained_decode needs at least one label")
    seqs = encode_continuations(tok, [lab + "\n" for lab in labels])
    trie = _Trie(seqs, labels)
    depth = max(len(s) for s in seqs)
    ctx = [c[-(max_length - depth) :] for c in encode_contexts(tok, prompts)]
    out: list[str] = [""] * len(prompts)
    dev, pad = _device(model), _pad_id(tok)
    with torch.inference_mode():
        for batch in _budget_batches([len(c) for c in ctx], token_budget):
            cache, mask, lengths, h = _prompt_pass(model, tok, [ctx[i] for i in batch])
            nodes = [trie.root] * len(batch)
            for step in range(depth):
                logits = _head_logits(model, h)  # (B, V)
                nxt = []
                for r, node in enumerate(nodes):
                    allowed = [t for t in node if t is not None]
                    if None in node:  # finished: this node ends a label + newline
                        nxt.append(pad)
                        continue
                    sub = logits[r, torch.tensor(allowed, device=dev)]
                    t = allowed[int(sub.argmax())]
                    nodes[r] = node[t]
                    nxt.append(t)
                if all(None in n for n in nodes) or step == depth - 1:
                    break
                ids = torch.tensor(nxt, device=dev)[:, None]
                hidden, mask = _step(model, cache, mask, ids, (lengths + step)[:, None])
                h = hidden[:, -1]
            for r, i in enumerate(batch):
                out[i] = nodes[r][None]
    return out


def greedy_generate(
    model,
    tok,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    max_length: int = 1024,
    token_budget: int = 16384,
) -> list[str]:
    """Greedy continuation of each prompt, stopped at a newline or EOS; first line, stripped.

    N prompts -> N strings. Prompts are left-truncated to ``max_length - max_new_tokens``.
    Finished rows are dropped from the KV cache as they finish.
    """
    keep = max(1, max_length - max_new_tokens)
    ctx = [c[-keep:] for c in encode_contexts(tok, prompts)]
    out: list[str] = [""] * len(prompts)
    dev = _device(model)
    eos = {t for t in [tok.eos_token_id] if t is not None}
    with torch.inference_mode():
        for batch in _budget_batches([len(c) + max_new_tokens for c in ctx], token_budget):
            cache, mask, lengths, h = _prompt_pass(model, tok, [ctx[i] for i in batch])
            gen: list[list[int]] = [[] for _ in batch]
            active = list(range(len(batch)))
            for step in range(max_new_tokens):
                nxt = _head_logits(model, h).argmax(-1).tolist()
                still = []
                for a, t in zip(active, nxt, strict=True):
                    if t in eos:
                        continue
                    gen[a].append(t)
                    if "\n" not in tok.decode(gen[a], skip_special_tokens=True):
                        still.append(a)
                if not still or step == max_new_tokens - 1:
                    break
                if len(still) < len(active):
                    sel = torch.tensor([active.index(a) for a in still], device=dev)
                    cache.batch_select_indices(sel)
                    mask, lengths = mask[sel], lengths[sel]
                active = still
                ids = torch.tensor([gen[a][-1] for a in active], device=dev)[:, None]
                hidden, mask = _step(model, cache, mask, ids, (lengths + step)[:, None])
                h = hidden[:, -1]
            for r, i in enumerate(batch):
                text = tok.decode(gen[r], skip_special_tokens=True)
                out[i] = text.split("\n", 1)[0].strip()
    return out
