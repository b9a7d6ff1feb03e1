"""``llmr bench eval``: llmr's evaluation paths vs a reference-style loop, in one process.

The workload is a fixed set of k-shot prompts built from the default suite's test queries
(k random same-task demonstrations each, seeded), for every task type present:
classification (greedy decoding constrained to the labels), multiple choice (the option
with the highest average log-probability) and generation (greedy, first line).

The reference-style loop does what the paper's reference code does: prompts in dataset
order, a fixed batch size, ``model.generate`` per batch (with ``prefix_allowed_tokens_fn``
over the label trie for classification), and each option as its own full sequence with
full logits for multiple choice. Both paths run with the same weights, so their
predictions must be identical; the report says how many differ. Reported: prompts/s and
prompt tokens/s of both, the speedup, the fraction of the measured bf16 matmul peak that
llmr reaches (2 x parameters x prompt tokens/s / bf16 FLOP/s).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import numpy as np
import torch

from llmr.core.device import matmul_rates
from llmr.core.io import read_parquet, write_json
from llmr.core.records import (
    CLASSIFICATION,
    GENERATION,
    MULTIPLE_CHOICE,
    content_hash,
    query_hash,
    real_options,
)
from llmr.evaluation.prompts import format_prompt
from llmr.models import lm

log = logging.getLogger(__name__)

DEFAULT_MODEL = "resources/models/smollm2"
DEFAULT_DATA = "results/data"


# ----------------------------------------------------------------------------- reference loop


def _left_pad(seqs: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, L - len(s) :] = torch.tensor(list(s), dtype=torch.long)
        mask[r, L - len(s) :] = 1
    return ids, mask


def reference_options(
    model,
    tok,
    prompts: Sequence[str],
    options: Sequence[Sequence[str]],
    max_length: int = 1024,
    batch_size: int = 8,
) -> list[np.ndarray]:
    """Each (prompt, option) as its own sequence, dataset order, full fp32 logits.

    -> N arrays (n_options_i,) of average option-token log-probs (same truncation as llmr).
    """
    seqs, n_scored, owner = [], [], []
    for i, (p, opts) in enumerate(zip(prompts, options, strict=True)):
        o_ids = [o[-(max_length - 1) :] for o in lm.encode_continuations(tok, list(opts))]
        ctx = lm.encode_contexts(tok, [p])[0]
        ctx = ctx[-(max_length - max(len(o) for o in o_ids)) :]
        for o in o_ids:
            seqs.append(ctx + o)
            n_scored.append(len(o))
            owner.append(i)
    flat = np.zeros(len(seqs), dtype=np.float32)
    pad = lm._pad_id(tok)
    with torch.no_grad():
        for s in range(0, len(seqs), batch_size):
            chunk = seqs[s : s + batch_size]
            L = max(len(x) for x in chunk)
            ids = torch.full((len(chunk), L), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), L), dtype=torch.long)
            for r, x in enumerate(chunk):
                ids[r, : len(x)] = torch.tensor(x)
                mask[r, : len(x)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits, -1)
            for r, x in enumerate(chunk):
                pos = torch.arange(len(x) - n_scored[s + r], len(x))
                flat[s + r] = logp[r, pos - 1, ids[r, pos]].mean().item()
    out: list[list[float]] = [[] for _ in prompts]
    for i, v in zip(owner, flat, strict=True):
        out[i].append(float(v))
    return [np.asarray(v, dtype=np.float32) for v in out]


def reference_constrained(
    model,
    tok,
    prompts: Sequence[str],
    labels: Sequence[str],
    max_length: int = 1024,
    batch_size: int = 8,
) -> list[str]:
    """``model.generate`` per batch with ``prefix_allowed_tokens_fn`` over the label trie."""
    seqs = lm.encode_continuations(tok, [lab + "\n" for lab in labels])
    trie = lm._Trie(seqs, labels)
    depth = max(len(s) for s in seqs)
    eos = tok.eos_token_id if tok.eos_token_id is not None else lm._pad_id(tok)
    ctx = [c[-(max_length - depth) :] for c in lm.encode_contexts(tok, prompts)]
    out = []
    for s in range(0, len(ctx), batch_size):
        ids, mask = _left_pad(ctx[s : s + batch_size], lm._pad_id(tok))
        L = ids.shape[1]

        def allowed(_, sent: torch.Tensor, L=L) -> list[int]:
            return trie.allowed(sent[L:].tolist()) or [eos]

        with torch.no_grad():
            gen = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                num_beams=1,
                max_new_tokens=depth + 1,
                eos_token_id=eos,
                pad_token_id=lm._pad_id(tok),
                prefix_allowed_tokens_fn=allowed,
            )
        for row in gen[:, L:].tolist():
            node = trie.root
            for t in row:
                if None in node:
                    break
                node = node[t]
            out.append(node[None])
    return out


def reference_generate(
    model,
    tok,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    max_length: int = 1024,
    batch_size: int = 8,
) -> list[str]:
    """``model.generate`` per batch: a leading newline suppressed at step one (as in the
    reference code), stop at a newline token or EOS; first line, stripped."""
    has_nl, lead_nl = lm.newline_tokens(tok)
    stops = sorted(set(has_nl) | {tok.eos_token_id})
    keep = max(1, max_length - max_new_tokens)
    ctx = [c[-keep:] for c in lm.encode_contexts(tok, prompts)]
    out = []
    for s in range(0, len(ctx), batch_size):
        ids, mask = _left_pad(ctx[s : s + batch_size], lm._pad_id(tok))
        with torch.no_grad():
            gen = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                num_beams=1,
                max_new_tokens=max_new_tokens,
                eos_token_id=stops,
                pad_token_id=lm._pad_id(tok),
                begin_suppress_tokens=lead_nl,
            )
        for row in gen[:, ids.shape[1] :].tolist():
            out.append(tok.decode(row, skip_special_tokens=True).split("\n", 1)[0].strip())
    return out


# ----------------------------------------------------------------------------- workload


def build_workload(data_dir: str, per_task: int, k: int = 8, seed: int = 0) -> list[dict]:
    """One dict per task: name, type, labels, prompts, options (MC), k-shot prompts."""
    test = read_parquet(f"{data_dir}/test.parquet")
    pool = read_parquet(f"{data_dir}/passages.parquet")
    tasks = read_parquet(f"{data_dir}/tasks.parquet")
    rng = random.Random(seed)
    work = []
    for t in tasks.itertuples(index=False):
        rows = test[test["task_name"] == t.task_name].head(per_task)
        same = pool[pool["task_name"] == t.task_name]
        if rows.empty:
            continue
        prompts, options = [], []
        hashes = [content_hash(c) for c in same["contents"]]
        for q in rows.itertuples(index=False):
            own = query_hash(q.query, q.answers, q.options)
            cand = [c for c, h in zip(same["contents"], hashes, strict=True) if h != own]
            demos = rng.sample(cand, min(k, len(cand)))
            prompts.append(format_prompt(demos, q.query))
            options.append(real_options(q.options))
        labels = [str(x) for x in (t.labels if t.labels is not None else [])]
        kind = t.task_type
        if kind == CLASSIFICATION and not labels:
            kind = GENERATION
        work.append(
            {
                "task": t.task_name,
                "type": kind,
                "labels": labels,
                "prompts": prompts,
                "options": options,
            }
        )
    return work


def shared_prefix_tokens(seqs: Sequence[Sequence[int]]) -> int:
    """Tokens a cross-prompt prefix cache could skip: sum over prompts (sorted) of the
    longest common prefix with the previous prompt."""
    ordered = sorted(tuple(s) for s in seqs)
    total = 0
    for a, b in zip(ordered, ordered[1:], strict=False):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        total += n
    return total


def run_llmr(
    model, tok, work: list[dict], max_length: int, max_new_tokens: int, token_budget: int
) -> list[list]:
    """Predictions of llmr's paths per task (option index, label or text), and seconds."""
    preds, secs = [], []
    for w in work:
        t0 = time.perf_counter()
        if w["type"] == MULTIPLE_CHOICE:
            s = lm.score_options(
                model,
                tok,
                w["prompts"],
                w["options"],
                max_length=max_length,
                token_budget=token_budget,
            )
            preds.append([int(np.argmax(x)) for x in s])
        elif w["type"] == CLASSIFICATION:
            preds.append(
                lm.constrained_decode(
                    model,
                    tok,
                    w["prompts"],
                    w["labels"],
                    max_length=max_length,
                    token_budget=token_budget,
                )
            )
        else:
            preds.append(
                lm.greedy_generate(
                    model,
                    tok,
                    w["prompts"],
                    max_new_tokens,
                    max_length=max_length,
                    token_budget=token_budget,
                )
            )
        secs.append(time.perf_counter() - t0)
    return preds, secs


def run_reference(
    model, tok, work: list[dict], max_length: int, max_new_tokens: int, batch_size: int
) -> list[list]:
    """Predictions of the reference-style loop per task, and seconds per task."""
    preds, secs = [], []
    for w in work:
        t0 = time.perf_counter()
        if w["type"] == MULTIPLE_CHOICE:
            s = reference_options(model, tok, w["prompts"], w["options"], max_length, batch_size)
            preds.append([int(np.argmax(x)) for x in s])
        elif w["type"] == CLASSIFICATION:
            preds.append(
                reference_constrained(model, tok, w["prompts"], w["labels"], max_length, batch_size)
            )
        else:
            preds.append(
                reference_generate(model, tok, w["prompts"], max_new_tokens, max_length, batch_size)
            )
        secs.append(time.perf_counter() - t0)
    return preds, secs


def run(
    model_path: str,
    data_dir: str,
    per_task: int,
    k: int = 8,
    token_budget: int = 16384,
    max_length: int = 1024,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    precision: str = "auto",
) -> dict:
    """Build the workload, time both paths on the same weights, return the result dict."""
    work = build_workload(data_dir, per_task, k)
    model, tok = lm.load_causal_lm(model_path, device="cpu", dtype=precision)
    n_prompts = sum(len(w["prompts"]) for w in work)
    encoded = [x for w in work for x in lm.encode_contexts(tok, w["prompts"])]
    prompt_tokens = sum(len(x) for x in encoded)
    shared = shared_prefix_tokens(encoded)
    lm.newline_tokens(tok)  # one-off vocabulary scan, shared by both paths
    warm = [dict(w, prompts=w["prompts"][:2], options=w["options"][:2]) for w in work]
    run_llmr(model, tok, warm, max_length, max_new_tokens, token_budget)
    run_reference(model, tok, warm, max_length, max_new_tokens, batch_size)

    ref, ref_s = run_reference(model, tok, work, max_length, max_new_tokens, batch_size)
    fast, fast_s = run_llmr(model, tok, work, max_length, max_new_tokens, token_budget)
    t_ref, t_fast = sum(ref_s), sum(fast_s)
    by_type: dict[str, dict] = {}
    for w, tr, tf, a, b in zip(work, ref_s, fast_s, ref, fast, strict=True):
        d = by_type.setdefault(
            w["type"],
            {
                "prompts": 0,
                "reference_seconds": 0.0,
                "llmr_seconds": 0.0,
                "predictions_differing": 0,
            },
        )
        d["prompts"] += len(w["prompts"])
        d["reference_seconds"] += tr
        d["llmr_seconds"] += tf
        d["predictions_differing"] += sum(x != y for x, y in zip(a, b, strict=True))
    for d in by_type.values():
        d["speedup"] = d["reference_seconds"] / d["llmr_seconds"]
    differ = sum(a != b for f, r in zip(fast, ref, strict=True) for a, b in zip(f, r, strict=True))
    rates = matmul_rates()
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "prompts": n_prompts,
        "tasks": {w["task"]: w["type"] for w in work},
        "k": k,
        "model": model_path,
        "weights": str(next(model.parameters()).dtype).replace("torch.", ""),
        "token_budget": token_budget,
        "reference_batch_size": batch_size,
        "prompt_tokens": prompt_tokens,
        "shared_prefix_tokens": shared,
        "shared_prefix_fraction": shared / max(prompt_tokens, 1),
        "reference_seconds": t_ref,
        "llmr_seconds": t_fast,
        "reference_prompts_per_s": n_prompts / t_ref,
        "llmr_prompts_per_s": n_prompts / t_fast,
        "reference_tokens_per_s": prompt_tokens / t_ref,
        "llmr_tokens_per_s": prompt_tokens / t_fast,
        "speedup": t_ref / t_fast,
        "by_type": by_type,
        "predictions_differing": int(differ),
        "identical_predictions": differ == 0,
        **rates,
        "parameters": n_params,
        "peak_gflops": max(rates.values()),
        "fraction_of_bf16_peak": 2
        * n_params
        * prompt_tokens
        / t_fast
        / (max(rates.values()) * 1e9),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def bench_eval_command(
    *,
    json_out: str,
    per_task: int,
    k: int,
    model: str,
    data: str,
    token_budget: int,
    batch_size: int,
    max_length: int,
    max_new_tokens: int,
    precision: str,
) -> int:
    """``llmr bench eval --json PATH [--per-task N] [--model] [--data]``."""
    res = run(
        model,
        data,
        per_task,
        k,
        token_budget,
        max_length,
        max_new_tokens,
        batch_size,
        precision,
    )
    write_json(res, json_out)
    print(
        " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in res.items()
            if not isinstance(v, dict)
        )
    )
    return 0


if __name__ == "__main__":
    import sys

    from llmr.cli import main

    raise SystemExit(main(["bench", "eval", *sys.argv[1:]]))
