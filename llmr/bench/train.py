"""``llmr bench train``: llmr's group-training steps vs a Trainer-default loop, in one process.

Both models of the method are timed: the reward model (MiniLM cross-encoder, groups of
1 + 7 (query + "\\n" + gold, passage) pairs, listwise CE) and the retriever (MiniLM
bi-encoder, groups of 1 + 3 passages, KL to the teacher + in-batch contrastive loss; the
teacher here is the LLM scores, the ``llm_kd`` setting, the same compute as LLM-R).
Groups come from the default suite's LLM scores (``results/scores/round0.parquet`` and
``results/data``) or, with ``--synthetic`` or when those files are missing, from random
English words of the suite's lengths (queries and passages of about 30 tokens).

Paths (``--paths``; llmr's is always timed): ``llmr``, ``today`` (llmr's path with
``TrainConfig.fast_kernels`` off: torch's CPU dropout and attention kernels, glibc's
default malloc behaviour, unfused AdamW — the path before ``llmr.training.kernels``) and
``baseline``. llmr's path is the pipeline's own code: ``llmr.training.loop`` (``GroupTrainer``, the group
stream, ``micro_batching``: micro-batches under ``--token-budget`` padded tokens, padded to
their longest sequence, gradient accumulation) with the models' ``GroupTask``. The
baseline does the same optimizer steps on the same groups the way a Hugging Face
``Trainer`` with default settings would: the whole batch in one forward pass, every
sequence padded to ``max_length``, fp32, no token budget. Each path runs ``--warmup``
steps, then ``--steps`` timed steps (from the end of the last warm-up step to the end of
the last step: data loading, tokenising, forward, backward, optimizer).

Reported per model and path: steps/s, real (non-pad) and padded tokens/s, achieved
FLOP/s = 6 x non-embedding parameters x real tokens / s (forward + backward; attention
scores and the embedding lookups are not counted, so this understates the work), its
``fraction_of_bf16_peak`` (peak = the faster of the measured bf16 and fp32 matmul rates,
as in ``llmr bench reward``: fp32 on a CPU without native bf16, where bf16 is not timed;
the rates are the CPU's, ``llmr.core.device.measure_matmul_gflops``), the first step's loss
(equal on every path up to float error with ``--no-dropout``), and ``speedup_vs_today`` /
``speedup_vs_baseline`` = that path's seconds / llmr's seconds.

``--long-inputs`` measures memory instead: reward-model training on synthetic inputs of
400-650 tokens (truncated to ``--long-max-length``), one process per (batch size, token
budget), each reporting its peak RSS (``getrusage`` ``ru_maxrss``): peak memory should
follow the token budget, not the batch size.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import SaveStrategy

from llmr.core.device import cpu_has_native_bf16, measure_matmul_gflops, pick_device
from llmr.core.io import write_json
from llmr.core.schema import training_defaults
from llmr.training.groups import PassagePool, ScoredQueries
from llmr.training.loop import (
    GroupDataset,
    GroupSpec,
    GroupTask,
    GroupTrainer,
    ScoredGroups,
    TrainConfig,
    group_spec,
    load_groups,
    make_training_args,
    micro_batching,
    train_config,
)

log = logging.getLogger(__name__)
# the default of TrainConfig.attention_budget (the config schema's, the same for both models)
ATTENTION_BUDGET = training_defaults("reward")["attention_budget"]

DEFAULT_MODEL = "resources/models/minilm"
DEFAULT_DATA = "results/data"
DEFAULT_SCORES = "results/scores/round0.parquet"
FLOPS_FORMULA = (
    "6 x non-embedding parameters x real (non-pad) tokens per second "
    "(forward + backward; attention scores not counted)"
)
TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")

WORDS = (
    "the of and to in is was for on that with as by at from it an be this which or are "
    "his her their one two three four five first last new old good bad great small large "
    "long short high low true false right left up down day night year time people man woman "
    "child world life hand part place case week company system program question work number "
    "point home water room mother area money story fact month lot book eye job word business "
    "issue side kind head house service friend father power hour game line end member law "
    "car city name team minute idea kid body information back parent face others level office "
    "door health person art war history party result change morning reason research girl guy "
    "moment air teacher force education sentence plausible answer option following date "
    "tomorrow yesterday before after because however therefore although while whether"
).split()


# ----------------------------------------------------------------------------- data


def synthetic_groups(
    n_queries: int = 256,
    n_passages: int = 2048,
    query_words: tuple[int, int] = (10, 40),
    passage_words: tuple[int, int] = (12, 40),
    n_candidates: int = 32,
    seed: int = 0,
) -> ScoredGroups:
    """Scored queries over a pool of random-word texts (word counts uniform in the ranges).

    Every query has ``n_candidates`` random pool passages with descending random scores and
    a one-word gold answer; one task, no held-back queries.
    """
    rng = np.random.default_rng(seed)
    words = np.asarray(WORDS)

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(words, int(rng.integers(lo, hi + 1))))

    labels = [str(rng.choice(words)) for _ in range(n_passages)]
    contents = [f"{text(*passage_words)}\n{lab}" for lab in labels]
    ids = [f"p{i}" for i in range(n_passages)]
    pool = PassagePool(
        ids=ids,
        contents=contents,
        labels=labels,
        tasks=["synthetic"] * n_passages,
        index={d: i for i, d in enumerate(ids)},
        by_hash={},
    )
    golds = [str(rng.choice(words)) for _ in range(n_queries)]
    frame = pd.DataFrame(
        {
            "query_id": [f"q{i}" for i in range(n_queries)],
            "query": [text(*query_words) for _ in range(n_queries)],
            "answers": [[g] for g in golds],
            "options": [[] for _ in golds],
            "task_name": "synthetic",
        }
    )
    k = min(n_candidates, n_passages)
    train = ScoredQueries(
        frame=frame, golds=golds,
        is_cls=np.zeros(n_queries, dtype=bool),
        docs=[rng.choice(n_passages, k, replace=False).astype(np.int64) for _ in range(n_queries)],
        scores=[np.sort(rng.normal(size=k))[::-1].copy() for _ in range(n_queries)],
        self_idx=[frozenset()] * n_queries,
    )  # fmt: skip
    empty = ScoredQueries(frame.iloc[:0], [], np.zeros(0, dtype=bool), [], [], [])
    return ScoredGroups(pool, train, empty, {"input": n_queries, "kept": n_queries})


def load_suite(data_dir: str, scores: str, synthetic: bool = False) -> tuple[ScoredGroups, str]:
    """The default suite's training groups (paper filters, 10% held back), or synthetic
    groups when asked or when the files are missing; and a description of the source."""
    files = [scores, f"{data_dir}/passages.parquet", f"{data_dir}/tasks.parquet"]
    missing = [f for f in files if not Path(f).is_file()]
    if synthetic or missing:
        why = "--synthetic" if synthetic else f"missing {missing}"
        return synthetic_groups(), f"synthetic random-word texts ({why})"
    data = load_groups([scores], files[1], files[2], 0.1, reward_filters=True)
    return data, f"LLM scores {scores} over {data_dir}: {len(data.train)} training queries"


# ----------------------------------------------------------------------------- timing


class _Recorder:
    """Wraps a ``loss_fn``; records (real tokens, padded tokens, loss) of each micro-batch."""

    def __init__(self, loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor]):
        self.loss_fn = loss_fn
        self.micro: list[tuple[int, int, float]] = []

    def __call__(self, model: torch.nn.Module, inputs: dict) -> torch.Tensor:
        out = self.loss_fn(model, inputs)
        loss = out[0] if isinstance(out, tuple) else out
        masks = [v for k, v in inputs.items() if k.endswith("attention_mask")]
        self.micro.append(
            (
                int(sum(int(m.sum()) for m in masks)),
                int(sum(m.numel() for m in masks)),
                float(loss.detach()),
            )
        )
        return out


class _StepClock(TrainerCallback):
    """perf_counter at the start of training and at the end of every optimizer step."""

    def __init__(self):
        self.start, self.ends = 0.0, []

    def on_train_begin(self, args, state, control, **kw):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.ends.append(time.perf_counter())


def padded_to_max_length(
    collate: Callable[[list[dict]], dict], max_length: int, pad_id: int
) -> Callable[[list[dict]], dict]:
    """``collate`` with its token tensors (B, L) right-padded to (B, max_length): the same
    tensors as ``padding="max_length"``, what a Trainer-default setup feeds the model."""

    def fn(items: list[dict]) -> dict:
        out = {}
        for k, v in collate(items).items():
            if k.endswith(TOKEN_KEYS) and v.shape[-1] < max_length:
                fill = pad_id if k.endswith("input_ids") else 0
                v = F.pad(v, (0, max_length - v.shape[-1]), value=fill)
            out[k] = v
        return out

    return fn


def non_embedding_parameters(model: torch.nn.Module) -> int:
    """Parameters outside ``*embeddings*`` modules (what the matmuls use per token)."""
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def peak_rss_gb() -> float:
    """This process's peak resident memory so far in GB (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def time_steps(
    model: torch.nn.Module,
    task: GroupTask,
    data: ScoredGroups,
    spec: GroupSpec,
    cfg: TrainConfig,
    micro: int,
    accum: int,
    steps: int,
    warmup: int,
    baseline: bool = False,
    pad_id: int = 0,
) -> dict:
    """Train ``warmup + steps`` optimizer steps of ``micro`` x ``accum`` groups through
    ``GroupTrainer``; time the last ``steps``. ``baseline``: every sequence padded to
    ``task.max_length`` with ``pad_id``, fp32 (pass ``accum=1``: one forward per step).
    Returns token counts, seconds and the first step's loss."""
    total = warmup + steps
    cfg = dataclasses.replace(cfg, steps=total, save_steps=total + 1, resume=False)
    sampler = spec.sampler(data.train, data.pool, cfg.seed)
    collate = task.make_collator(data.train)
    if baseline:
        collate = padded_to_max_length(collate, task.max_length, pad_id)
    rec, clock = _Recorder(task.loss_fn), _StepClock()
    with tempfile.TemporaryDirectory(prefix="llmr-bench-train-") as tmp:
        args = make_training_args(tmp, cfg, micro, accum)
        args.save_strategy = SaveStrategy.NO
        args.logging_steps = total + 1
        if baseline:
            args.bf16 = args.fp16 = False
        trainer = GroupTrainer(
            model=model,
            args=args,
            data_collator=collate,
            loss_fn=rec,
            attention_budget=None if baseline else cfg.attention_budget,
            fast_kernels=cfg.fast_kernels and not baseline,
            train_dataset=GroupDataset(sampler, total * micro * accum),
            callbacks=[clock],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    if len(clock.ends) != total or len(rec.micro) != total * accum:
        raise RuntimeError(
            f"expected {total} steps of {accum} micro-batches, got "
            f"{len(clock.ends)} steps and {len(rec.micro)} micro-batches"
        )
    t0 = clock.ends[warmup - 1] if warmup else clock.start
    seconds = clock.ends[-1] - t0
    timed = rec.micro[warmup * accum :]
    real = sum(r for r, _, _ in timed)
    padded = sum(p for _, p, _ in timed)
    return {
        "micro_batch_groups": micro,
        "grad_accum": accum,
        "groups_per_step": micro * accum,
        "padding": "max_length" if baseline else "longest in micro-batch",
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "real_tokens": real,
        "padded_tokens": padded,
        "padding_fraction": 1 - real / max(padded, 1),
        "real_tokens_per_s": real / seconds,
        "padded_tokens_per_s": padded / seconds,
        "first_step_loss": float(np.mean([loss for _, _, loss in rec.micro[:accum]])),
        "first_step_real_tokens": sum(r for r, _, _ in rec.micro[:accum]),
    }


def no_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Set every ``nn.Dropout`` to p=0 (both paths then compute the same loss)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return model


def load_model(kind: str, path: str, seed: int):
    """(model, tokenizer, GroupTask factory) for ``reward`` or ``retriever``."""
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(seed)  # the reward head is random: the same for both paths
    if kind == "reward":
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        if model.config.pad_token_id is None and tok.pad_token_id is not None:
            model.config.pad_token_id = tok.pad_token_id
    else:
        from llmr.training.distill import freeze_positions

        model = AutoModel.from_pretrained(path)
        freeze_positions(model)
    return model, tok


# Timing order: ``today`` first, since llmr's path tunes the process's malloc for good.
PATHS = ("today", "llmr", "baseline")


def model_task(
    kind: str, tok, pool: PassagePool, max_length: int, seed: int
) -> tuple[GroupSpec, GroupTask]:
    """The group spec and task of ``kind`` (reward | retriever) as the pipeline's training
    stage builds them, under the config schema's defaults."""
    from llmr.training.distill import retriever_task
    from llmr.training.reward import reward_task

    settings = training_defaults(kind)
    if kind == "reward":
        spec = group_spec(settings, drop_same_label=False)
        return spec, reward_task(tok, pool, spec.size, max_length, seed)
    spec = group_spec(settings, drop_same_label=True)
    loss = ("pooling", "temperature", "kd_weight", "contrastive_weight")
    loss += ("query_prefix", "passage_prefix", "teacher_temperature")
    return spec, retriever_task(tok, pool, spec.size, max_length, **{k: settings[k] for k in loss})


def bench_model(
    kind: str,
    model_path: str,
    data: ScoredGroups,
    batch_size: int,
    max_length: int,
    token_budget: int,
    steps: int,
    warmup: int,
    dropout: bool = True,
    seed: int = 42,
    paths: Sequence[str] = PATHS,
) -> dict:
    """Time ``paths`` for ``kind`` (reward | retriever) on ``data``: ``llmr`` (the
    pipeline's path, fast CPU kernels on), ``today`` (the same with
    ``fast_kernels=False``: torch's dropout and attention, unfused AdamW) and ``baseline``
    (Trainer defaults). Each runs its own warm-up and timed steps on a fresh copy of the
    same model, in the order of ``PATHS``; ``llmr`` is always timed."""
    model, tok = load_model(kind, model_path, seed)
    if not dropout:
        no_dropout(model)
    spec, task = model_task(kind, tok, data.pool, max_length, seed)
    cfg = train_config(
        training_defaults(kind),
        batch_size=batch_size,
        token_budget=token_budget,
        lr=1e-4,
        seed=seed,
    )
    micro, accum = micro_batching(cfg, spec.size, max_length)
    res: dict[str, Any] = {}
    for path in paths:
        if path == "baseline":
            r = time_steps(
                copy.deepcopy(model),
                task,
                data,
                spec,
                dataclasses.replace(cfg, fast_kernels=False),
                micro * accum,
                1,
                steps,
                warmup,
                baseline=True,
                pad_id=tok.pad_token_id or 0,
            )
        else:
            c = cfg if path == "llmr" else dataclasses.replace(cfg, fast_kernels=False)
            r = time_steps(copy.deepcopy(model), task, data, spec, c, micro, accum, steps, warmup)
        r["peak_rss_gb_so_far"] = peak_rss_gb()
        res[path] = r
    n_emb = non_embedding_parameters(model)
    for r in res.values():
        r["achieved_gflops"] = 6 * n_emb * r["real_tokens_per_s"] / 1e9
        r["padded_gflops"] = 6 * n_emb * r["padded_tokens_per_s"] / 1e9
    llmr = res["llmr"]
    for other in ("today", "baseline"):
        if other in res:
            res[f"speedup_vs_{other}"] = res[other]["seconds"] / llmr["seconds"]
            res[f"first_step_loss_abs_diff_{other}"] = abs(
                llmr["first_step_loss"] - res[other]["first_step_loss"]
            )
    return {
        "group_size": spec.size,
        "batch_size": batch_size,
        "max_length": max_length,
        "token_budget": token_budget,
        "steps": steps,
        "warmup_steps": warmup,
        "dropout": dropout,
        "parameters": sum(p.numel() for p in model.parameters()),
        "non_embedding_parameters": n_emb,
        **res,
    }


def matmul_peak() -> tuple[float | None, float, float]:
    """(bf16, fp32, peak) matmul GFLOP/s from ``measure_matmul_gflops``; peak = the faster,
    as in ``llmr bench reward``. bf16 is measured only where the CPU has it natively
    (``cpu_has_native_bf16``): elsewhere it is emulated, slower than fp32 (so the peak is
    fp32 either way) and takes minutes; it is then None."""
    fp32 = measure_matmul_gflops(torch.float32)
    bf16 = measure_matmul_gflops(torch.bfloat16) if cpu_has_native_bf16() else None
    return bf16, fp32, max(fp32, bf16 or 0.0)


def run(
    model_path: str,
    data_dir: str,
    scores: str,
    steps: int = 2,
    warmup: int = 1,
    reward_batch: int = 8,
    retriever_batch: int = 16,
    reward_max_length: int = 384,
    retriever_max_length: int = 256,
    token_budget: int = 16384,
    synthetic: bool = False,
    dropout: bool = True,
    models: Sequence[str] = ("reward", "retriever"),
    paths: Sequence[str] = PATHS,
) -> dict:
    """Time both models' training steps on both paths; the result dict (module docstring)."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps} and {warmup}")
    data, how = load_suite(data_dir, scores, synthetic)
    res: dict[str, Any] = {
        "data": how,
        "model": model_path,
        "device": pick_device(),
        "flops_formula": FLOPS_FORMULA,
    }
    for kind in models:
        batch, length = (
            (reward_batch, reward_max_length)
            if kind == "reward"
            else (retriever_batch, retriever_max_length)
        )
        log.info("bench train: %s, %d groups per step, %d + %d steps", kind, batch, warmup, steps)
        res[kind] = bench_model(
            kind,
            model_path,
            data,
            batch,
            length,
            token_budget,
            steps,
            warmup,
            dropout,
            paths=[p for p in PATHS if p in {"llmr", *paths}],
        )
    bf16, fp32, peak = matmul_peak()
    for kind in models:
        for path in PATHS:
            if path in res[kind]:
                r = res[kind][path]
                r["fraction_of_bf16_peak"] = r["achieved_gflops"] / peak
        for other in ("today", "baseline"):
            if f"speedup_vs_{other}" in res[kind]:
                res[f"{kind}_speedup_vs_{other}"] = res[kind][f"speedup_vs_{other}"]
    res.update({
        "fraction_of_bf16_peak": {k: res[k]["llmr"]["fraction_of_bf16_peak"] for k in models},
        "bf16_matmul_gflops": bf16,
        "fp32_matmul_gflops": fp32,
        "peak_gflops": peak,
        "peak_rss_gb": peak_rss_gb(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    })  # fmt: skip
    return res


# ----------------------------------------------------------------------------- memory


def memory_probe(
    model_path: str,
    batch_size: int,
    token_budget: int,
    max_length: int = 384,
    steps: int = 1,
    gradient_checkpointing: bool = False,
    seed: int = 42,
    attention_budget: int | None = ATTENTION_BUDGET,
    kind: str = "reward",
) -> dict:
    """``kind`` (reward | retriever) training on long synthetic inputs in this process:
    counts, seconds and ``peak_rss_gb`` (this process's peak; run it in a fresh process per
    setting)."""
    data = synthetic_groups(
        n_queries=max(64, batch_size),
        n_passages=1024,
        query_words=(150, 250),
        passage_words=(250, 400),
        seed=seed,
    )
    model, tok = load_model(kind, model_path, seed)
    spec, task = model_task(kind, tok, data.pool, max_length, seed)
    cfg = train_config(
        training_defaults(kind),
        batch_size=batch_size,
        token_budget=token_budget,
        lr=1e-5,
        seed=seed,
        gradient_checkpointing=gradient_checkpointing,
        attention_budget=attention_budget,
    )
    micro, accum = micro_batching(cfg, spec.size, max_length)
    r = time_steps(model, task, data, spec, cfg, micro, accum, steps, 0)
    return {
        "kind": kind,
        "batch_size": batch_size,
        "token_budget": token_budget,
        "max_length": max_length,
        "gradient_checkpointing": gradient_checkpointing,
        "attention_budget": attention_budget,
        "steps": steps,
        "micro_batch_groups": micro,
        "grad_accum": accum,
        "micro_batch_padded_tokens": micro * spec.size * max_length,
        "seconds": r["seconds"],
        "real_tokens": r["real_tokens"],
        "padded_tokens": r["padded_tokens"],
        "peak_rss_gb": peak_rss_gb(),
    }


def long_inputs(
    model_path: str,
    batch_sizes: Sequence[int],
    token_budgets: Sequence[int],
    max_length: int = 384,
    steps: int = 1,
    gradient_checkpointing: bool = False,
    attention_budget: int | None = ATTENTION_BUDGET,
    kinds: Sequence[str] = ("reward", "retriever"),
) -> dict:
    """``memory_probe`` in a fresh process per (model, token budget, batch size); peak RSS of
    each and, per model and token budget, the ratio of the largest to the smallest peak
    over batch sizes."""
    runs = []
    for kind, budget, bs in itertools.product(kinds, token_budgets, batch_sizes):
        spec = {
            "model_path": model_path,
            "batch_size": bs,
            "token_budget": budget,
            "max_length": max_length,
            "steps": steps,
            "gradient_checkpointing": gradient_checkpointing,
            "attention_budget": attention_budget,
            "kind": kind,
        }
        log.info("bench train --long-inputs: %s", spec)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "probe.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "llmr.bench.train",
                    "--memory-probe",
                    json.dumps(spec),
                    "--json",
                    str(out),
                ],
                check=True,
            )
            runs.append(json.loads(out.read_text()))
        log.info("peak RSS %.2f GB", runs[-1]["peak_rss_gb"])
    by_budget = {}
    for kind, budget in itertools.product(kinds, token_budgets):
        peaks = [
            r["peak_rss_gb"] for r in runs if r["token_budget"] == budget and r["kind"] == kind
        ]
        by_budget[f"{kind}:{budget}"] = {
            "peak_rss_gb_min": min(peaks),
            "peak_rss_gb_max": max(peaks),
            "max_over_min": max(peaks) / min(peaks),
        }
    return {
        "inputs": "synthetic: query + gold 150-250 words, passages 250-400 words, "
        f"truncated to {max_length} tokens",
        "group_size": {"reward": 8, "retriever": 4},
        "runs": runs,
        "by_token_budget": by_budget,
        "peak_rss_gb": max(r["peak_rss_gb"] for r in runs),
    }


# ----------------------------------------------------------------------------- CLI


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def bench_train_command(
    *,
    json_out: str,
    model: str,
    data: str,
    scores: str,
    synthetic: bool,
    steps: int,
    warmup: int,
    reward_batch: int,
    retriever_batch: int,
    reward_max_length: int,
    retriever_max_length: int,
    token_budget: int,
    models: str,
    paths: str,
    no_dropout: bool,
    measure_long_inputs: bool,
    long_batch_sizes: str,
    long_token_budgets: str,
    long_max_length: int,
    long_steps: int,
    gradient_checkpointing: bool,
    attention_budget: int,
    probe: str | None,
) -> int:
    """``llmr bench train --json PATH [--steps N] [--long-inputs] ...``: ``run``, or
    ``long_inputs`` (``--long-inputs``), or one ``memory_probe`` (``probe``: its keyword
    arguments as JSON); writes and prints the result."""
    if probe:
        res = memory_probe(**json.loads(probe))
    elif measure_long_inputs:
        res = long_inputs(
            model,
            _ints(long_batch_sizes),
            _ints(long_token_budgets),
            long_max_length,
            long_steps,
            gradient_checkpointing,
            attention_budget or None,
            [m for m in models.split(",") if m],
        )
    else:
        res = run(
            model,
            data,
            scores,
            steps,
            warmup,
            reward_batch,
            retriever_batch,
            reward_max_length,
            retriever_max_length,
            token_budget,
            synthetic,
            not no_dropout,
            [m for m in models.split(",") if m],
            [p for p in paths.split(",") if p],
        )
    write_json(res, json_out)
    print(json.dumps(res, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":  # long_inputs' probes run here, one process each
    from llmr.cli import main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    raise SystemExit(main(["bench", "train", *sys.argv[1:]]))
