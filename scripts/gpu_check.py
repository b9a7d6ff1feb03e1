"""GPU checks of llmr's CUDA paths, meant to finish in under 5 minutes on one GPU.

  python scripts/gpu_check.py --json gpu_check.json          # checks 1-3 on cuda
  torchrun --standalone --nproc_per_node 2 scripts/gpu_check.py --distributed
                                                             # check 4, two processes
Checks:
1. scoring throughput in bf16 of a SmolLM2-135M-shaped model (random weights: the speed does
   not depend on them): tokens/s and the fraction of the GPU's bf16 peak (nominal for known
   GPUs, and a measured bf16 matmul);
2. evaluation of a few prompts (options, constrained labels, greedy generation), tiny LM;
3. a few reward-model and retriever training steps in bf16 (tiny encoder, tiny suite);
4. (--distributed) a distillation loss step with negatives gathered from 2 processes:
   each process's loss equals the single-process loss of its rows over the whole batch,
   and differs from the loss over its local negatives only;
5. (--paper-shapes) throughput at the paper's model shapes, random weights, bf16: LLaMA-7B
   scoring through llmr.models.lm.score_sequences (200-token pairs, 900-token prompts), a
   BERT-base cross-encoder's inference (the teacher), and training steps of BERT-base
   (ELECTRA-base / E5-base) and MiniLM-L6 encoders; the rates behind docs/PAPER.md's GPU hours.
Without CUDA it prints a line saying so and exits 0, unless --device cpu is given (the
distributed check also runs on CPU with gloo, which the tests use).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

# The tiny models, suite and synthetic scores are test-only helpers (tests/helpers/, not part
# of the llmr package): put the repo's tests folder on the path to import them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

# Nominal dense bf16 tensor-core peaks (TFLOP/s, no sparsity), by device-name substring.
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 70.0,
    "L4": 121.0,
}


def nominal_peak(name: str) -> float | None:
    for key, value in BF16_PEAK_TFLOPS.items():
        if key in name:
            return value * 1e12
    return None


def measured_matmul_peak(device: str, n: int = 8192, reps: int = 20) -> float:
    """Measured bf16 matmul FLOP/s (the best of ``reps``)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    a @ b
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def check_scoring(device: str, n_seqs: int = 512, length: int = 512) -> dict:
    """bf16 scoring throughput (llmr.models.lm.score_sequences) of a 135M-parameter Llama."""
    from types import SimpleNamespace

    from transformers import LlamaConfig, LlamaForCausalLM

    from llmr.models.lm import score_sequences

    cfg = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(cfg).to(device=device, dtype=torch.bfloat16).eval()
    tok = SimpleNamespace(pad_token_id=0, eos_token_id=0)
    g = torch.Generator().manual_seed(0)
    seqs = [
        torch.randint(1, cfg.vocab_size, (length,), generator=g).tolist() for _ in range(n_seqs)
    ]
    n_scored = [8] * n_seqs
    score_sequences(model, tok, seqs[:16], n_scored[:16])  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    scores = score_sequences(model, tok, seqs, n_scored, token_budget=65536)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    tokens = n_seqs * length
    params = (
        sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
    )
    flops = 2 * params * tokens  # forward matmuls; attention and the scored head rows excluded
    name = torch.cuda.get_device_name()
    peak = nominal_peak(name)
    measured = measured_matmul_peak(device)
    return {
        "device": name,
        "tokens": tokens,
        "seconds": dt,
        "tokens_per_s": tokens / dt,
        "tflops": flops / dt / 1e12,
        "nominal_bf16_peak_tflops": peak and peak / 1e12,
        "fraction_of_nominal_peak": peak and flops / dt / peak,
        "measured_bf16_matmul_tflops": measured / 1e12,
        "fraction_of_measured_matmul": flops / dt / measured,
        "finite": bool(torch.isfinite(torch.as_tensor(scores)).all()),
    }


def _timed(fn, reps: int, device: str) -> float:
    """Seconds per call of ``fn`` (synchronised on CUDA), after one warm-up call."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t0) / reps


def check_paper_shapes(device: str, shrink: int = 1) -> dict:
    """Tokens/s and sequences/s at the paper's shapes (random weights; speed only).

    ``shrink`` > 1 divides every width, depth and batch (a CPU smoke test of the code path).
    """
    from types import SimpleNamespace

    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    from llmr.models.lm import score_sequences

    k = shrink
    out: dict = {"device": torch.cuda.get_device_name() if device == "cuda" else device}
    g = torch.Generator().manual_seed(0)
    llama = LlamaConfig(
        vocab_size=32000,
        hidden_size=4096 // k,
        intermediate_size=11008 // k,
        num_hidden_layers=32 // k,
        num_attention_heads=32 // k,
        num_key_value_heads=32 // k,
        max_position_embeddings=2048,
    )
    with torch.device(device):
        model = LlamaForCausalLM._from_config(llama, dtype=torch.bfloat16).eval()
    params = sum(p.numel() for p in model.parameters()) - 2 * llama.vocab_size * llama.hidden_size
    out["llama_non_embedding_params"] = params
    tok = SimpleNamespace(pad_token_id=0, eos_token_id=0)
    for name, n, length, scored in (
        ("llama7b_pairs_200", 512 // k, 200, 8),
        ("llama7b_prompts_900", 128 // k, 900, 4),
    ):
        seqs = [torch.randint(1, 32000, (length,), generator=g).tolist() for _ in range(n)]
        dt = _timed(
            lambda seqs=seqs, n=n, scored=scored, model=model: score_sequences(
                model, tok, seqs, [scored] * n, token_budget=65536
            ),
            reps=1,
            device=device,
        )
        out[name] = {
            "sequences_per_s": n / dt,
            "tokens_per_s": n * length / dt,
            "tflops": 2 * params * n * length / dt / 1e12,
        }
    del model
    cuda = device == "cuda"
    if cuda:
        torch.cuda.empty_cache()
    shapes = {
        "bert_base": dict(
            hidden_size=768 // k,
            num_hidden_layers=12 // k,
            num_attention_heads=12 // k,
            intermediate_size=3072 // k,
        ),
        "minilm_l6": dict(
            hidden_size=384 // k,
            num_hidden_layers=6 // k,
            num_attention_heads=12 // k,
            intermediate_size=1536 // k,
        ),
    }
    batch = 256 // k
    for name, shape in shapes.items():
        with torch.device(device):
            enc = BertModel(BertConfig(vocab_size=30522, **shape))
        opt = torch.optim.AdamW(enc.parameters(), lr=1e-5)
        ids = torch.randint(1, 30522, (batch, 256), generator=g).to(device)

        def train_step(enc=enc, opt=opt, ids=ids) -> None:
            with torch.autocast(device, dtype=torch.bfloat16):
                loss = enc(input_ids=ids).last_hidden_state[:, 0].float().pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        def infer(enc=enc, ids=ids) -> None:
            with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16):
                enc(input_ids=ids)

        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t_train, t_inf = _timed(train_step, 5, device), _timed(infer, 5, device)
        out[name] = {
            "train_sequences_per_s_256tok": batch / t_train,
            "infer_sequences_per_s_256tok": batch / t_inf,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        }
        del enc, opt
        if cuda:
            torch.cuda.empty_cache()
    return out


def check_eval(device: str, work: Path) -> dict:
    """A few prompts through the three evaluation paths, bf16 on ``device``."""
    from llmr.models.lm import constrained_decode, greedy_generate, load_causal_lm, score_options

    from helpers.tiny import make_tiny_causal_lm

    model, tok = load_causal_lm(
        str(make_tiny_causal_lm(work / "lm")), device=device, dtype=torch.bfloat16
    )
    prompts = ["The apple was great today.\ngood\n\nThe river was poor today.\n"] * 3
    opts = score_options(model, tok, prompts, [["good", "bad"]] * 3)
    labels = constrained_decode(model, tok, prompts, ["good", "bad"])
    texts = greedy_generate(model, tok, prompts, max_new_tokens=8)
    return {
        "options_finite": all(bool((o == o).all()) for o in opts),
        "labels": labels,
        "labels_valid": all(x in ("good", "bad") for x in labels),
        "generated": texts,
    }


def check_training(work: Path) -> dict:
    """A few reward-model and retriever steps (the stages pick bf16 on a bf16 GPU)."""
    from llmr.core.schema import stage_defaults, training_defaults
    from llmr.data.tasks import prepare
    from llmr.training import distill, reward

    from helpers.tiny import make_tiny_encoder, synthetic_scores, write_tiny_suite

    suite = write_tiny_suite(work / "suite")
    data = {k: str(work / f"{k}.parquet") for k in ("train", "test", "passages", "tasks")}
    prepare(
        source="released",
        source_dir=str(suite),
        tasks=["cls_sent", "mc_pick", "gen_echo"],
        held_out=["gen_echo"],
        out_train=data["train"],
        out_test=data["test"],
        out_passages=data["passages"],
        out_tasks=data["tasks"],
        **stage_defaults(prepare, "suite")
        | {"seed": 0, "max_train_per_task": None, "max_test_per_task": None, "test_fraction": 0.25},
    )
    scores = str(work / "scores.parquet")
    synthetic_scores(data["train"], data["passages"], data["tasks"], scores)
    enc = str(make_tiny_encoder(work / "enc"))
    steps = dict(steps=6, batch_size=8, max_length=64, save_steps=3)
    rm = reward.train_reward(
        [scores],
        data["passages"],
        data["tasks"],
        enc,
        str(work / "rm"),
        str(work / "rm.json"),
        **training_defaults("reward") | steps | {"n_negatives": 3, "lr": 1e-3},
    )
    rt = distill.train_retriever(
        [scores],
        data["passages"],
        data["tasks"],
        enc,
        str(work / "rt"),
        str(work / "rt.json"),
        **training_defaults("retriever") | steps | {"lr": 1e-3},
    )
    return {"reward": rm, "retriever": rt}


def check_distributed(device: str) -> dict:
    """Rank r's contrastive loss with gathered negatives vs the single-process losses."""
    import torch.distributed as dist

    from llmr.training.distill import contrastive_loss

    backend = "nccl" if device == "cuda" and os.environ.get("GPU_CHECK_NCCL") else "gloo"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    b, g, h, t = 4, 4, 32, 0.05
    gen = torch.Generator().manual_seed(0)  # every rank draws the same full batch
    q_all = torch.nn.functional.normalize(torch.randn(world * b, h, generator=gen), dim=-1)
    p_all = torch.nn.functional.normalize(torch.randn(world * b, g, h, generator=gen), dim=-1)
    rows = slice(rank * b, (rank + 1) * b)
    q = q_all[rows].to(device).requires_grad_(True)
    p = p_all[rows].to(device).requires_grad_(True)
    loss = contrastive_loss(q, p, t)  # gathers Q and P from every process
    loss.backward()
    dist.destroy_process_group()
    # single process: the full batch's loss, row by row, and the local-only loss
    full_rows = []
    for r in range(world):
        part = slice(r * b, (r + 1) * b)
        full_rows.append(_rows_loss(q_all, p_all, part, t))
    local = contrastive_loss(q_all[rows], p_all[rows], t).item()
    out = {
        "rank": rank,
        "world": world,
        "backend": backend,
        "loss": loss.item(),
        "expected": full_rows[rank],
        "local_only": local,
        "grad_finite": bool(torch.isfinite(q.grad).all()),
    }
    out["matches_full_batch"] = abs(out["loss"] - out["expected"]) < 1e-4
    out["negatives_change_loss"] = abs(out["loss"] - local) > 1e-3
    return out


def _rows_loss(q_all: torch.Tensor, p_all: torch.Tensor, part: slice, t: float) -> float:
    """Loss of the queries in ``part`` against the whole batch, as one process computes it."""
    import torch.nn.functional as F

    n, g, _ = p_all.shape
    P = p_all.reshape(n * g, -1)
    pos, all_pos = p_all[:, 0], P[::g]
    idx = torch.arange(n)[part]
    own = F.one_hot(idx, n).bool()
    neg = torch.finfo(torch.float32).min
    logits = (
        torch.cat(
            [
                q_all[idx] @ P.T,
                (pos[idx] @ q_all.T).masked_fill(own, neg),
                (q_all[idx] @ q_all.T).masked_fill(own, neg),
                (pos[idx] @ all_pos.T).masked_fill(own, neg),
            ],
            1,
        )
        / t
    )
    return F.cross_entropy(logits, idx * g).item()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the results here (per rank: .rankN)")
    ap.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    ap.add_argument(
        "--distributed",
        action="store_true",
        help="run check 4 only (start with torchrun --nproc_per_node 2)",
    )
    ap.add_argument(
        "--paper-shapes",
        action="store_true",
        help="run check 5 only (throughput at the paper's model shapes)",
    )
    args = ap.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else None)
    if device is None:
        print("gpu_check: no CUDA device; skipped (nothing was checked)")
        return 0
    if args.distributed:
        result = check_distributed(device)
        ok = result["matches_full_batch"] and result["negatives_change_loss"]
    elif args.paper_shapes:
        if device != "cuda":
            print("gpu_check: check 5 needs CUDA; skipped")
            return 0
        result = check_paper_shapes(device)
        ok = all(v["tokens_per_s"] > 0 for k, v in result.items() if k.startswith("llama7b_"))
    else:
        if device != "cuda":
            print("gpu_check: checks 1-3 need CUDA; skipped")
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            result = {
                "scoring": check_scoring(device),
                "eval": check_eval(device, work),
                "training": check_training(work),
            }
        ok = (
            result["scoring"]["finite"]
            and result["eval"]["labels_valid"]
            and result["eval"]["options_finite"]
        )
    result["ok"] = bool(ok)
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.json:
        rank = os.environ.get("RANK")
        path = Path(args.json + (f".rank{rank}" if rank is not None else ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
