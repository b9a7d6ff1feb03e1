"""Causal-LM ground floor: loading, log-prob scoring, option scoring, constrained decoding,
greedy generation.

Shared by the LLM-score stage (``llmr.scoring.score``) and the evaluation. Conventions:

* A context is tokenised with the tokenizer's special tokens (e.g. BOS); a continuation is
  tokenised on its own, *as the text that follows a newline* (``"\\n" + text`` minus the
  tokens of ``"\\n"``; falls back to plain tokenisation if that prefix does not match), so
  its tokens are exactly the continuation's and identical wherever it is scored or decoded.
* Sequences are truncated from the LEFT to ``max_length`` tokens: context tokens go first.
  If a continuation alone has ``max_length`` tokens or more, only its last
  ``max_length - 1`` tokens are scored (the first token of the window is never scored).
* Speed: work is sorted by length and batched by a token budget (rows x padded length);
  the decoder runs to hidden states, and the LM head is applied (in fp32) only where
  logits are needed. Options of a multiple-choice query and the label trie of a
  classification task are packed after their prompt in ONE row (a "tree": each token
  attends to the prompt and its own ancestors through a 4-D attention mask, with explicit
  position ids), so a prompt is read once and there is no KV-cache surgery.
* Only public transformers APIs are used: the decoder's ``forward`` (``input_ids``,
  ``attention_mask`` incl. custom 4-D masks, ``position_ids``) and ``model.generate``
  (open generation). ``tests/models/test_lm.py`` checks every path against ``model.generate`` or
  naive full-logits scoring.
* Precision is that of the weights (``load_causal_lm(dtype=...)``, see ``llmr.core.device``);
  fp32 weights on a device with a fast half type run under autocast.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llmr.core.device import autocast_dtype, pick_device, precision_dtype

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

    The model is in eval mode on ``device`` (default: ``pick_device()``). ``dtype`` is a
    precision name (``llmr.core.device.resolve_precision``): ``"auto"`` stores the weights in bf16
    on GPUs and native-bf16 CPUs (measured ~1.5x faster than fp32 weights under autocast on
    CPU) and fp32 elsewhere; ``"bf16" | "fp16" | "fp32"`` (or "float32", ...) force one;
    ``None`` keeps the checkpoint's dtype. A pad token is set if missing
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
    if isinstance(dtype, str):
        dtype = precision_dtype(dtype, device)
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


def _decoder(model):
    dec = model.get_decoder() if hasattr(model, "get_decoder") else None
    return dec if dec is not None else model.model


def _forward(model, ids: torch.Tensor, mask=None, pos=None) -> torch.Tensor:
    """Run the decoder body (no KV cache). ids (B, T) -> hidden (B, T, H)."""
    dec = _decoder(model)
    out = dec(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
    return out.last_hidden_state


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


def token_budget_batches(lengths: Sequence[int], token_budget: int) -> Iterator[list[int]]:
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
        for batch in token_budget_batches([len(s) for s in seqs], token_budget):
            ids = _pad_right([seqs[i] for i in batch], pad, dev)
            with _precision(model):
                hidden = _forward(model, ids)  # (B, L, H)
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
        log.warning(
            "%d continuation(s) longer than max_length=%d: scored their last %d tokens",
            n_cut,
            max_length,
            max_length - 1,
        )
    return score_sequences(
        model, tok, [s for s, _ in built], [n for _, n in built], token_budget, progress, desc
    )


# ----------------------------------------------------------------------------- packed trees


def _tree_mask(parents: Sequence[Sequence[int]], L: int) -> np.ndarray:
    """Ancestor masks (B, L, L) bool: node j sees itself and its ancestors.

    parents[b][j] is the index of node j's parent in row b (-1 for the root); parents come
    before children. Padding positions (j >= len(parents[b])) see only themselves.
    """
    out = np.zeros((len(parents), L, L), dtype=bool)
    for b, par in enumerate(parents):
        m = out[b]
        chain = 0  # leading run of a simple chain (the prompt): a lower triangle
        while chain < len(par) and par[chain] == chain - 1:
            chain += 1
        m[:chain, :chain] = np.tril(np.ones((chain, chain), dtype=bool))
        for j in range(chain, len(par)):
            m[j] = m[par[j]]
            m[j, j] = True
        idx = np.arange(len(par), L)
        m[idx, idx] = True
    return out


def _tree_forward(model, tok, rows: Sequence[tuple[list[int], list[int]]]) -> torch.Tensor:
    """Hidden states of packed token trees, right-padded into one batch.

    rows: B (tokens, parents) pairs, as in ``_tree_mask`` -> hidden (B, L, H). Each node's
    position id is its depth, so a branch sees exactly what it would see as its own sequence.
    """
    dev = _device(model)
    L = max(len(t) for t, _ in rows)
    ids = _pad_right([t for t, _ in rows], _pad_id(tok), dev)
    pos = torch.zeros((len(rows), L), dtype=torch.long)
    for b, (_, par) in enumerate(rows):
        depth = [0] * len(par)
        for j, p in enumerate(par):
            depth[j] = depth[p] + 1 if p >= 0 else 0
        pos[b, : len(par)] = torch.tensor(depth, dtype=torch.long)
    allowed = torch.from_numpy(_tree_mask([p for _, p in rows], L))[:, None].to(dev)
    attn = getattr(model.config, "_attn_implementation", "sdpa")
    if attn == "sdpa":
        mask = allowed  # SDPA takes a boolean mask (True = attend)
    else:
        dt = next(model.parameters()).dtype
        if dt == torch.float32 and autocast_dtype(dev) is not None:
            dt = autocast_dtype(dev)
        mask = torch.zeros(allowed.shape, dtype=dt, device=dev)
        mask.masked_fill_(~allowed, torch.finfo(dt).min)
    with _precision(model):
        return _forward(model, ids, mask=mask, pos=pos.to(dev))


def _chains_after(
    prefix: list[int], branches: Sequence[Sequence[int]]
) -> tuple[list[int], list[int], list[int]]:
    """Pack a prefix chain and branch chains hanging off its last token.

    -> (tokens, parents, start index of each branch in the packed row).
    """
    tokens, parents = list(prefix), list(range(-1, len(prefix) - 1))
    starts = []
    for br in branches:
        starts.append(len(tokens))
        for k, t in enumerate(br):
            parents.append(len(prefix) - 1 if k == 0 else len(tokens) - 1)
            tokens.append(t)
    return tokens, parents, starts


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
    """Average log-prob of each option given its prompt; each prompt is read once.

    prompts: N strings; options: N lists -> N arrays of shape (n_options_i,) float32, equal to
    scoring each (prompt, option) as its own sequence. The prompt and all its options are
    packed in one row (module docstring). The prompt is left-truncated so that its longest
    option fits ``max_length``.
    """
    if len(prompts) != len(options):
        raise ValueError(f"{len(prompts)} prompts but {len(options)} option lists")
    for i, opts in enumerate(options):
        if not opts:
            raise ValueError(f"prompt {i} has no options")
        for j, o in enumerate(opts):
            if not o:
                raise ValueError(f"prompt {i}: option {j} is empty")
    flat_ids = encode_continuations(tok, [o for opts in options for o in opts])
    opt_ids: list[list[list[int]]] = []
    k = 0
    for opts in options:
        opt_ids.append([c[-(max_length - 1) :] for c in flat_ids[k : k + len(opts)]])
        k += len(opts)
    ctx = encode_contexts(tok, prompts)
    ctx = [c[-(max_length - max(len(o) for o in opt_ids[i])) :] for i, c in enumerate(ctx)]
    packed = [_chains_after(c, o) for c, o in zip(ctx, opt_ids, strict=True)]
    results: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(prompts)
    dev = _device(model)
    bar = _progress(len(prompts), progress, desc)
    with torch.inference_mode():
        for batch in token_budget_batches([len(p[0]) for p in packed], token_budget):
            hidden = _tree_forward(model, tok, [(packed[i][0], packed[i][1]) for i in batch])
            rows, cols, targets, owner = [], [], [], []  # owner: (batch row, option) per token
            for r, i in enumerate(batch):
                tokens, parents, starts = packed[i]
                for o, (s, ids) in enumerate(zip(starts, opt_ids[i], strict=True)):
                    for j in range(s, s + len(ids)):
                        rows.append(r)
                        cols.append(parents[j])  # the parent's hidden state predicts node j
                        targets.append(tokens[j])
                        owner.append((r, o))
            rows_t = torch.tensor(rows, device=dev)
            cols_t = torch.tensor(cols, device=dev)
            logp = torch.log_softmax(_head_logits(model, hidden[rows_t, cols_t]), dim=-1)
            tok_lp = logp.gather(1, torch.tensor(targets, device=dev)[:, None])[:, 0].cpu()
            keys = sorted(set(owner))
            slot = {key: n for n, key in enumerate(keys)}
            idx = torch.tensor([slot[o] for o in owner])
            sums = torch.zeros(len(keys)).index_add_(0, idx, tok_lp.float())
            cnts = torch.zeros(len(keys)).index_add_(0, idx, torch.ones(len(idx)))
            means = (sums / cnts).numpy().astype(np.float32)
            for r, i in enumerate(batch):
                results[i] = np.array(
                    [means[slot[(r, o)]] for o in range(len(opt_ids[i]))], dtype=np.float32
                )
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

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        """Tokens allowed after ``prefix`` (empty when the prefix ends a label)."""
        node = self.root
        for t in prefix:
            node = node.get(t)
            if node is None:
                return []
        return [] if None in node else [t for t in node if t is not None]

    def packed(self) -> tuple[list[int], list[int], dict[int, int]]:
        """Trie nodes in breadth-first order: (tokens, parent (-1 = root), id(node) -> index)."""
        tokens, parents, index = [], [], {}
        queue = [(self.root, -1)]
        while queue:
            node, me = queue.pop(0)
            for t, child in node.items():
                if t is None:
                    continue
                index[id(child)] = len(tokens)
                tokens.append(t)
                parents.append(me)
                queue.append((child, len(tokens) - 1))
        return tokens, parents, index


def _walk_trie(
    root: dict, index: dict[int, int], logits: torch.Tensor, root_row: int, offset: int
) -> str:
    """Greedy walk of a label trie. logits (K, V): row ``root_row`` for the prompt's last
    token, row ``offset + index[id(node)]`` for a trie node. -> the label reached."""
    node, row = root, root_row
    while None not in node:
        allowed = [t for t in node if t is not None]
        sub = logits[row, torch.tensor(allowed)]
        t = allowed[int(sub.argmax())]
        node = node[t]
        row = offset + index[id(node)]
    return node[None]


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
    allowed token at each step (what ``model.generate`` with ``prefix_allowed_tokens_fn``
    over the same trie does), so multi-token labels and labels that are prefixes of other
    labels are all reachable. The whole trie is packed after the prompt: ONE forward pass
    gives the next-token distribution at every node a greedy walk can reach.
    """
    if not labels:
        raise ValueError("constrained_decode needs at least one label")
    seqs = encode_continuations(tok, [lab + "\n" for lab in labels])
    trie = _Trie(seqs, labels)
    t_tok, t_par, index = trie.packed()
    depth = max(len(s) for s in seqs)
    ctx = [c[-(max_length - depth) :] for c in encode_contexts(tok, prompts)]
    rows_all = []
    for c in ctx:
        P = len(c)
        rows_all.append(
            (c + t_tok, list(range(-1, P - 1)) + [P - 1 if p < 0 else P + p for p in t_par])
        )
    inner = range(len(t_tok))  # logits at every node (leaves are never read: cheap)
    out: list[str] = [""] * len(prompts)
    dev = _device(model)
    with torch.inference_mode():
        for batch in token_budget_batches([len(r[0]) for r in rows_all], token_budget):
            hidden = _tree_forward(model, tok, [rows_all[i] for i in batch])
            rr, cc = [], []
            for r, i in enumerate(batch):
                P = len(ctx[i])
                rr += [r] * (1 + len(inner))
                cc += [P - 1] + [P + j for j in inner]
            logits = _head_logits(
                model, hidden[torch.tensor(rr, device=dev), torch.tensor(cc, device=dev)]
            ).cpu()
            per = 1 + len(inner)
            for r, i in enumerate(batch):
                out[i] = _walk_trie(trie.root, index, logits[r * per : (r + 1) * per], 0, 1)
    return out


def newline_tokens(tok) -> tuple[list[int], list[int]]:
    """(ids whose text contains a newline, ids whose text starts with one after spaces).

    Computed once per tokenizer (decodes the whole vocabulary).
    """
    cached = getattr(tok, "_llmr_newlines", None)
    if cached is not None:
        return cached
    texts = tok.batch_decode([[i] for i in range(len(tok))], skip_special_tokens=False)
    has = [i for i, t in enumerate(texts) if "\n" in t]
    lead = [i for i in has if texts[i].lstrip(" \t").startswith(("\n", "\r"))]
    tok._llmr_newlines = (has, lead)
    return has, lead


def greedy_generate(
    model,
    tok,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    max_length: int = 1024,
    token_budget: int = 16384,
) -> list[str]:
    """Greedy continuation of each prompt with ``model.generate``; first line, stripped.

    N prompts -> N strings. Like the paper's reference code, a newline is not allowed as the
    FIRST generated token (tokens that start with one are suppressed at step one), so the
    model cannot answer with an empty line; generation then stops at the first token that
    contains a newline, or at EOS, or after ``max_new_tokens``. Prompts are left-truncated
    to ``max_length - max_new_tokens``, sorted by length and batched by ``token_budget``
    (rows x (prompt + max_new_tokens)), left-padded.
    """
    from transformers import GenerationConfig

    keep = max(1, max_length - max_new_tokens)
    ctx = [c[-keep:] for c in encode_contexts(tok, prompts)]
    out: list[str] = [""] * len(prompts)
    if not prompts:
        return out
    dev, pad = _device(model), _pad_id(tok)
    has_nl, lead_nl = newline_tokens(tok)
    stops = sorted(set(has_nl) | ({tok.eos_token_id} if tok.eos_token_id is not None else set()))
    cfg = GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        eos_token_id=stops,
        pad_token_id=pad,
        begin_suppress_tokens=lead_nl or None,
        bos_token_id=tok.bos_token_id,
    )
    with torch.inference_mode():
        for batch in token_budget_batches([len(c) + max_new_tokens for c in ctx], token_budget):
            L = max(len(ctx[i]) for i in batch)
            ids = torch.full((len(batch), L), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), L), dtype=torch.long)
            for r, i in enumerate(batch):
                ids[r, L - len(ctx[i]) :] = torch.tensor(ctx[i])
                mask[r, L - len(ctx[i]) :] = 1
            with _precision(model):
                seqs = model.generate(
                    input_ids=ids.to(dev), attention_mask=mask.to(dev), generation_config=cfg
                )
            for r, i in enumerate(batch):
                text = tok.decode(seqs[r, L:].tolist(), skip_special_tokens=True)
                out[i] = text.split("\n", 1)[0].strip()
    return out
