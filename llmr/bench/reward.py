"""``llmr bench reward``: llmr's cross-encoder pair scorer vs a plain loop, in one process.

The teacher workload: (query + "\\n" + gold answer text, passage contents) pairs from BM25
candidates of the default suite's training queries, scored by the MiniLM cross-encoder
(``AutoModelForSequenceClassification``, one label; its head is random unless the folder
holds a trained reward model, which does not matter for throughput). The plain loop is
what a first implementation does: dataset order, a fixed batch, padding to the batch's
longest pair, fp32. Reported: pairs/s and tokens/s of both, the speedup, the Spearman
correlation of llmr's scores with the fp32 loop's, and the fraction of the measured bf16
matmul peak that llmr reaches (the peak is
the faster of the measured bf16 and fp32 matmul rates: fp32 on a CPU without native bf16) (2 x non-embedding parameters x real tokens/s over bf16
FLOP/s; attention's own FLOPs are not counted, so this understates the true fraction).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from llmr.bench.score import candidate_pairs, fidelity
from llmr.core.device import matmul_rates
from llmr.core.io import write_json
from llmr.core.records import gold_text
from llmr.models.cross_encoder import score_pairs, tokenize_pairs

DEFAULT_MODEL = "resources/models/minilm"
DEFAULT_DATA = "results/data"


def reward_pairs(
    data_dir: str, n: int, seed: int = 0, per_query: int = 16
) -> tuple[list[str], list[str], str]:
    """n (query + newline + gold, passage contents) pairs and how candidates were made."""
    cand, how = candidate_pairs(data_dir, n, seed, per_query)
    firsts = [
        f"{q['query']}\n{gold_text(q['answers'], q['options'], q['query_id'])}" for q, _ in cand
    ]
    return firsts, [c for _, c in cand], how


def plain_scores(
    model,
    tok,
    firsts: Sequence[str],
    seconds: Sequence[str],
    max_length: int = 384,
    batch_size: int = 64,
) -> np.ndarray:
    """Plain loop: dataset order, fixed batch, pad to the batch's longest, fp32 weights."""
    out = np.zeros(len(firsts), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, len(firsts), batch_size):
            batch = tok(
                list(firsts[s : s + batch_size]),
                list(seconds[s : s + batch_size]),
                truncation="longest_first",
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            out[s : s + batch_size] = model(**batch).logits[:, 0].float().numpy()
    return out


def load_cross_encoder(path: str):
    """(model in eval mode, tokenizer) with a one-logit classification head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    return model.eval(), AutoTokenizer.from_pretrained(path)


def run(
    model_path: str,
    data_dir: str,
    n_pairs: int,
    token_budget: int = 16384,
    max_length: int = 384,
    batch_size: int = 64,
    precision: str = "auto",
    compile: bool = False,
) -> dict:
    """Build pairs, time both paths, return the result dict (see module docstring)."""
    firsts, seconds, how = reward_pairs(data_dir, n_pairs)
    torch.manual_seed(0)  # the random head, if any, is the same for both paths
    model, tok = load_cross_encoder(model_path)
    real_tokens = sum(len(x) for x in tokenize_pairs(tok, firsts, seconds, max_length)["input_ids"])
    warm = min(64, len(firsts))
    plain_scores(model, tok, firsts[:warm], seconds[:warm], max_length, batch_size)
    t0 = time.perf_counter()
    ref = plain_scores(model, tok, firsts, seconds, max_length, batch_size)
    t_ref = time.perf_counter() - t0

    t0 = time.perf_counter()
    score_pairs(
        model,
        tok,
        firsts[:warm],
        seconds[:warm],
        max_length,
        token_budget,
        progress=False,
        precision=precision,
        compile=compile,
    )
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = score_pairs(
        model,
        tok,
        firsts,
        seconds,
        max_length,
        token_budget,
        progress=False,
        precision=precision,
        compile=compile,
    )
    t_fast = time.perf_counter() - t0

    rates = matmul_rates()
    peak = max(rates.values())
    emb = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    n_params = sum(p.numel() for p in model.parameters())
    flops = 2 * (n_params - emb) * real_tokens
    return {
        "pairs": len(firsts),
        "candidates": how,
        "model": model_path,
        "token_budget": token_budget,
        "precision": precision,
        "compiled": compile,
        "warmup_seconds_excluded": t_warm,
        "baseline_batch_size": batch_size,
        "real_tokens": real_tokens,
        "baseline_seconds": t_ref,
        "llmr_seconds": t_fast,
        "baseline_pairs_per_s": len(firsts) / t_ref,
        "llmr_pairs_per_s": len(firsts) / t_fast,
        "baseline_tokens_per_s": real_tokens / t_ref,
        "llmr_tokens_per_s": real_tokens / t_fast,
        "speedup": t_ref / t_fast,
        **fidelity(fast, ref),
        **rates,
        "parameters": n_params,
        "non_embedding_parameters": n_params - emb,
        "peak_gflops": peak,
        "fraction_of_bf16_peak": flops / t_fast / (peak * 1e9),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def bench_reward_command(
    *,
    pairs: int,
    json_out: str,
    model: str,
    data: str,
    token_budget: int,
    batch_size: int,
    max_length: int,
    precision: str,
    compile: bool,
) -> int:
    """``llmr bench reward --pairs N --json PATH [--model] [--data]``."""
    res = run(model, data, pairs, token_budget, max_length, batch_size, precision, compile)
    write_json(res, json_out)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    import sys

    from llmr.cli import main

    raise SystemExit(main(["bench", "reward", *sys.argv[1:]]))
