"""``llmr bench score``: llmr's fast LLM scoring vs a plain reference loop, in one process.

Pairs are (candidate passage, training query) from BM25 candidates (``bm25s`` over the
passage pool, own passage excluded) of the default suite; when ``bm25s`` is missing,
same-task passages drawn at random. Reported: tokens/s of both paths, the speedup, the
Spearman correlation of llmr's scores with the fp32 reference, measured bf16 / fp32 matmul
GFLOP/s, and the fraction of bf16 peak that llmr reaches.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import numpy as np
import torch

from llmr.core.device import matmul_rates
from llmr.core.io import read_parquet, write_json, write_jsonl
from llmr.core.records import content_hash, gold_text, query_hash
from llmr.models import lm

log = logging.getLogger(__name__)

DEFAULT_MODEL = "resources/models/smollm2"
DEFAULT_DATA = "results/data"


def score_prompt(contents: str, query: str) -> str:
    """The LLM-score context: demonstration, blank line, query, newline."""
    return f"{contents}\n\n{query}\n"


def candidate_pairs(
    data_dir: str, n: int, seed: int = 0, per_query: int = 4
) -> tuple[list[tuple[dict, str]], str]:
    """n (training query record, candidate passage contents) pairs, and how they were made.

    Candidates are bm25s top hits over the whole pool for a random mix of training queries
    (own passage excluded); without ``bm25s``, random same-task passages.
    """
    train = read_parquet(f"{data_dir}/train.parquet")
    passages = read_parquet(f"{data_dir}/passages.parquet")
    rng = random.Random(seed)
    n_q = min(len(train), 2 * max(1, -(-n // per_query)))  # spare queries: own-passage cuts
    queries = train.iloc[rng.sample(range(len(train)), n_q)]  # random task mix
    hashes = [content_hash(c) for c in passages["contents"]]
    try:
        import bm25s

        retr = bm25s.BM25()
        retr.index(
            bm25s.tokenize(list(passages["contents"]), show_progress=False), show_progress=False
        )
        docs, _ = retr.retrieve(
            bm25s.tokenize(list(queries["query"]), show_progress=False),
            k=min(per_query + 4, len(passages)),
            show_progress=False,
        )
        cand = [list(d) for d in docs]
        how = "bm25s top candidates over the whole pool (own passage excluded)"
    except ImportError:
        by_task: dict[str, list[int]] = {}
        for i, t in enumerate(passages["task_name"]):
            by_task.setdefault(t, []).append(i)
        cand = [
            rng.sample(by_task[t], min(per_query + 4, len(by_task[t])))
            for t in queries["task_name"]
        ]
        how = "random same-task passages (bm25s not installed)"
    pairs = []
    for (_, q), docs in zip(queries.iterrows(), cand, strict=True):
        own = query_hash(q["query"], q["answers"], q["options"])
        for d in [d for d in docs if hashes[d] != own][:per_query]:
            pairs.append((q.to_dict(), passages["contents"].iloc[d]))
    return pairs[:n], how


def build_pairs(data_dir: str, n: int, seed: int = 0, per_query: int = 4) -> tuple[list, str]:
    """n (context, continuation) dicts with keys input/output, and how candidates were made."""
    cand, how = candidate_pairs(data_dir, n, seed, per_query)
    pairs = []
    for q, contents in cand:
        y = gold_text(q["answers"], q["options"], q["query_id"])
        pairs.append({"input": score_prompt(contents, q["query"]), "output": y})
    return pairs, how


def reference_scores(
    model, tok, seqs: Sequence[list[int]], n_scored: Sequence[int], batch_size: int = 8
) -> np.ndarray:
    """Plain loop: dataset order, right padding to a multiple of 8, fp32 full logits, gather."""
    out = np.zeros(len(seqs), dtype=np.float32)
    pad = lm._pad_id(tok)
    with torch.no_grad():
        for s in range(0, len(seqs), batch_size):
            chunk = seqs[s : s + batch_size]
            L = -(-max(len(x) for x in chunk) // 8) * 8
            ids = torch.full((len(chunk), L), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), L), dtype=torch.long)
            for r, x in enumerate(chunk):
                ids[r, : len(x)] = torch.tensor(x)
                mask[r, : len(x)] = 1
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            for r, x in enumerate(chunk):
                n = n_scored[s + r]
                pos = torch.arange(len(x) - n, len(x))
                out[s + r] = logp[r, pos - 1, ids[r, pos]].mean().item()
    return out


def run(
    model_path: str,
    data_dir: str,
    n_pairs: int,
    token_budget: int = 16384,
    max_length: int = 1024,
    dump_pairs: str | None = None,
    compile: bool = True,
) -> dict:
    """Build pairs, time both paths, return the result dict (see module docstring)."""
    pairs, how = build_pairs(data_dir, n_pairs)
    if dump_pairs:
        write_jsonl(pairs, dump_pairs)
    model, tok = lm.load_causal_lm(model_path, device="cpu", dtype="float32")
    fast_model, _ = lm.load_causal_lm(model_path, device="cpu")  # bf16 weights where native
    ctx = lm.encode_contexts(tok, [p["input"] for p in pairs])
    cont = lm.encode_continuations(tok, [p["output"] for p in pairs])
    built = [lm._pairs(a, b, max_length) for a, b in zip(ctx, cont, strict=True)]
    seqs, n_scored = [s for s, _ in built], [n for _, n in built]
    real_tokens = sum(len(s) for s in seqs)

    warm = min(8, len(pairs))
    reference_scores(model, tok, seqs[:warm], n_scored[:warm])
    t0 = time.perf_counter()
    ref = reference_scores(model, tok, seqs, n_scored)
    t_ref = time.perf_counter() - t0

    t0 = time.perf_counter()
    if compile:
        lm.compile_model(fast_model)
    for w in (1, 64):  # warm-up; with compile: compiles for batch 1 and dynamic batches
        lm.score_continuations(
            fast_model,
            tok,
            [p["input"] for p in pairs[:w]],
            [p["output"] for p in pairs[:w]],
            max_length,
            progress=False,
        )
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = lm.score_continuations(
        fast_model,
        tok,
        [p["input"] for p in pairs],
        [p["output"] for p in pairs],
        max_length=max_length,
        token_budget=token_budget,
        progress=False,
    )
    t_fast = time.perf_counter() - t0

    rates = matmul_rates()
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "pairs": len(pairs),
        "candidates": how,
        "model": model_path,
        "token_budget": token_budget,
        "llmr_weights": str(next(fast_model.parameters()).dtype).replace("torch.", ""),
        "compiled": compile,
        "warmup_seconds_excluded": t_warm,
        "real_tokens": real_tokens,
        "baseline_seconds": t_ref,
        "llmr_seconds": t_fast,
        "baseline_tokens_per_s": real_tokens / t_ref,
        "llmr_tokens_per_s": real_tokens / t_fast,
        "llmr_pairs_per_s": len(pairs) / t_fast,
        "speedup": t_ref / t_fast,
        **fidelity(fast, ref),
        **rates,
        "parameters": n_params,
        "fraction_of_bf16_peak": 2
        * n_params
        * real_tokens
        / t_fast
        / (rates["bf16_matmul_gflops"] * 1e9),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def fidelity(fast: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """How llmr's scores (N,) agree with the fp32 reference's (N,): Spearman's rho and the
    largest absolute difference."""
    from scipy.stats import spearmanr

    rho = float(spearmanr(fast, ref).statistic) if len(fast) > 1 else 1.0
    return {"spearman_vs_fp32": rho, "max_abs_diff_vs_fp32": float(np.max(np.abs(fast - ref)))}


def bench_score_command(
    *,
    pairs: int,
    json_out: str,
    dump_pairs: str | None,
    model: str,
    data: str,
    token_budget: int,
    max_length: int,
    no_compile: bool,
) -> int:
    """``llmr bench score --pairs N --json PATH [--dump-pairs PATH] [--model] [--data]``."""
    res = run(model, data, pairs, token_budget, max_length, dump_pairs, compile=not no_compile)
    write_json(res, json_out)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    import sys

    from llmr.cli import main

    raise SystemExit(main(["bench", "score", *sys.argv[1:]]))
