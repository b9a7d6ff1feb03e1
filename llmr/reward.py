"""Reward model: a cross-encoder trained on LLM scores, then used as the teacher.

``train_reward`` fits ``AutoModelForSequenceClassification(num_labels=1)`` on groups of
(``query + "\\n" + gold``, passage) pairs with listwise softmax cross-entropy (positive at
index 0), through the Hugging Face ``Trainer`` (so torchrun / accelerate multi-GPU works).
``reward_score`` scores every (query, candidate) pair of the union of LLM-score files and
writes the teacher table.

The training plumbing shared with ``llmr.distill`` lives here too: a virtual group dataset,
``TrainingArguments`` from our hyperparameters, checkpoint resume, metrics.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, SequentialSampler
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from llmr.device import autocast_context, autocast_dtype, pick_device
from llmr.groups import GroupSampler, PassagePool, ScoredQueries, load_scored, merge_scored
from llmr.io import EXAMPLE_FIELDS, atomic_path, write_json, write_parquet
from llmr.records import gold_text

log = logging.getLogger(__name__)

# Extra Trainer callbacks (tests use it to simulate an interruption).
EXTRA_CALLBACKS: list[TrainerCallback] = []
EVAL_GROUPS = 256  # groups used for the train / held-back accuracies in the metrics


def reward_query_text(query: str, gold: str) -> str:
    """The cross-encoder's first segment: the query, a newline, its gold answer text."""
    return f"{query}\n{gold}"


# ---------------------------------------------------------------- shared training plumbing


class GroupDataset(Dataset):
    """A virtual stream of groups: item i is (epoch i // N, the (i % N)-th query of that
    epoch's seeded permutation). Groups are resampled every epoch and depend only on
    (seed, epoch, query), so a resumed run sees exactly the same data.

    Items: {"qi": int, "docs": (G,) int64 pool indices, "scores": (G,) float64, NaN = fill}.
    """

    def __init__(self, sampler: GroupSampler, length: int):
        self.sampler = sampler
        self.length = length
        self._orders: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self.sampler.queries)
        epoch, pos = divmod(int(i), n)
        if epoch not in self._orders:
            self._orders = {epoch: self.sampler.order(epoch)}
        qi = int(self._orders[epoch][pos])
        docs, scores = self.sampler.group(qi, epoch)
        return {"qi": qi, "docs": docs, "scores": scores}


class GroupTrainer(Trainer):
    """``Trainer`` with a pluggable loss ``loss_fn(model, inputs) -> scalar`` and the
    dataset read in order (the dataset itself is already shuffled per epoch)."""

    loss_is_scaled_for_ga = False  # our loss is a per-micro-batch mean

    def __init__(self, *args, loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor], **kw):
        super().__init__(*args, **kw)
        self.loss_fn = loss_fn

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self.loss_fn(model, inputs)
        return (loss, None) if return_outputs else loss


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_device_batch(batch_size: int, grad_accum: int) -> int:
    """Groups per device and micro-step so that one optimizer step sees ``batch_size`` groups."""
    return max(1, batch_size // (world_size() * max(1, grad_accum)))


def make_training_args(
    ckpt_dir: str,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_ratio: float,
    weight_decay: float,
    seed: int,
    grad_accum: int,
    save_steps: int,
    gradient_checkpointing: bool,
) -> TrainingArguments:
    """TrainingArguments for our runs: bf16/fp16 where ``autocast_dtype`` says so, CPU when
    no CUDA, checkpoints every ``save_steps`` into ``ckpt_dir`` (2 kept)."""
    cuda = torch.cuda.is_available()
    dtype = autocast_dtype("cuda" if cuda else "cpu")
    extra: dict[str, Any] = {}
    if gradient_checkpointing and cuda:
        names = inspect.signature(TrainingArguments).parameters
        key = "activation_checkpointing" if "activation_checkpointing" in names else None
        extra[key or "gradient_checkpointing"] = True
    return TrainingArguments(
        output_dir=ckpt_dir,
        max_steps=steps,
        per_device_train_batch_size=per_device_batch(batch_size, grad_accum),
        gradient_accumulation_steps=max(1, grad_accum),
        learning_rate=lr,
        warmup_steps=int(round(warmup_ratio * steps)),
        weight_decay=weight_decay,
        lr_scheduler_type="linear",
        logging_steps=max(1, min(50, steps // 50)),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=max(1, save_steps),
        save_total_limit=2,
        seed=seed,
        data_seed=seed,
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        use_cpu=not cuda,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        ddp_find_unused_parameters=False,
        **extra,
    )


def prepare_checkpoints(ckpt_dir: str, fingerprint: dict, resume: bool) -> str | None:
    """The checkpoint to resume from, or None. A folder written with other settings (or
    ``resume=False``) is cleared first, so stale checkpoints never mix into a run."""
    path = Path(ckpt_dir)
    fp_file = path / "llmr_run.json"
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    last = None
    if path.is_dir():
        same = fp_file.is_file() and fp_file.read_text() == text
        if resume and same:
            last = get_last_checkpoint(str(path))
        else:
            shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    fp_file.write_text(text)
    if last:
        log.info("resuming from %s", last)
    return last


def run_fingerprint(kwargs: dict) -> dict:
    """The settings that define a run (everything but ``resume``), plus input file sizes."""
    fp = {k: v for k, v in kwargs.items() if k not in ("resume",)}
    for v in kwargs.values():
        paths = v if isinstance(v, list | tuple) else [v]
        for p in paths:
            if isinstance(p, str) and Path(p).is_file():
                st = Path(p).stat()
                fp[f"_size:{p}"] = st.st_size
    return fp


def loss_curve(trainer: Trainer) -> list[list[float]]:
    """[[step, loss], ...] from the trainer's log history."""
    return [[int(e["step"]), float(e["loss"])] for e in trainer.state.log_history if "loss" in e]


def check_not_empty(queries: ScoredQueries, counts: dict, files: Sequence[str], tasks: str | None):
    """ValueError naming files, tasks and per-reason drop counts when nothing is left."""
    if len(queries) == 0:
        reasons = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise ValueError(
            f"no training queries left after filtering {list(files)} (tasks table: {tasks}): "
            f"{reasons}. held_out_task = query from a held-out task; few_candidates = <= 3 "
            "candidates; third_best_penalised = 3rd best score <= -100 (cross-task / wrong-label "
            "penalty); heldback = reserved for agreement (heldback_fraction)"
        )


def save_model_atomically(model, tokenizer, out_dir: str) -> None:
    """save_pretrained model + tokenizer into a temporary folder renamed onto ``out_dir``."""
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


# ---------------------------------------------------------------- reward model


def listwise_ce(logits: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy over groups with the positive at index 0.

    logits: (B, G) -> scalar mean over B.
    """
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.float(), target)


class RewardCollator:
    """Items -> tokenised pairs (B*G, L): (query + "\\n" + gold, passage contents)."""

    def __init__(self, tokenizer, queries: ScoredQueries, pool: PassagePool, max_length: int):
        self.tok, self.queries, self.pool, self.max_length = tokenizer, queries, pool, max_length
        self.texts = [
            reward_query_text(q, g)
            for q, g in zip(queries.frame["query"], queries.golds, strict=True)
        ]

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        firsts, seconds = [], []
        for it in items:
            for d in it["docs"]:
                firsts.append(self.texts[it["qi"]])
                seconds.append(self.pool.contents[int(d)])
        return dict(
            self.tok(
                firsts,
                seconds,
                truncation="longest_first",
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
        )


@torch.no_grad()
def group_accuracy(
    score_fn: Callable[[list[dict]], torch.Tensor], dataset: GroupDataset, n: int, bs: int
) -> tuple[float, float, int]:
    """(acc@1, MRR, n groups) of the positive (index 0) within its group over the first
    ``n`` items of ``dataset``; ``score_fn(items) -> (B, G)`` scores."""
    n = min(n, len(dataset))
    hits, rr = 0.0, 0.0
    for start in range(0, n, bs):
        items = [dataset[i] for i in range(start, min(n, start + bs))]
        s = score_fn(items).float()
        rank = (s[:, 1:] >= s[:, :1]).sum(1)  # ties count against the positive
        hits += float((rank == 0).sum())
        rr += float((1.0 / (rank + 1).float()).sum())
    return (hits / n if n else float("nan")), (rr / n if n else float("nan")), n


@dataclass
class ScoredGroups:
    """The passage pool and the train / held-back queries of a group-training run."""

    pool: PassagePool
    train: ScoredQueries
    heldback: ScoredQueries
    counts: dict[str, int]


def load_groups(
    files: list[str],
    passages: str,
    tasks: str,
    heldback_fraction: float,
    steps: int,
    reward_filters: bool,
) -> ScoredGroups:
    """Check ``steps``, load the pool and the filtered train / held-back queries of score
    files; ValueError when no training query is left."""
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    pool = PassagePool.load(passages)
    q_train, counts = load_scored(files, pool, tasks, heldback_fraction, "train", reward_filters)
    check_not_empty(q_train, counts, files, tasks)
    q_hb, _ = load_scored(files, pool, tasks, heldback_fraction, "heldback", reward_filters)
    return ScoredGroups(pool, q_train, q_hb, counts)


def fit_groups(
    run: dict[str, Any],
    t0: float,
    model: torch.nn.Module,
    tok,
    data: ScoredGroups,
    drop_same_label: bool,
    make_collator: Callable[[ScoredQueries], Callable[[list[dict]], dict]],
    loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor],
    score_batch: Callable[[torch.nn.Module, dict, torch.device], torch.Tensor],
    acc_names: tuple[str, str],
    extra_metrics: Callable[[Trainer], dict] | None = None,
) -> None:
    """The Trainer run shared by ``train_reward`` and ``llmr.distill.train_retriever``.

    ``run`` is the caller's ``locals()`` at entry (the run fingerprint and hyperparameters:
    out_dir, metrics_out, steps, batch_size, lr, warmup_ratio, weight_decay, seed,
    grad_accum, save_steps, gradient_checkpointing, resume, n_negatives, pos_top,
    neg_bottom). Trains ``model`` with ``loss_fn`` on groups from ``data`` (checkpoints in
    ``out_dir + ".ckpt"``, resumed when the settings match), then on process 0 measures
    group accuracy / MRR with ``score_batch(model, device batch, device) -> (B, G)``, saves
    model + tokenizer atomically to ``out_dir``, writes the metrics (accuracy keys
    ``train_<acc_names[0]>``, ``train_<acc_names[1]>``, ``heldback_...``, plus
    ``extra_metrics(trainer)``) and removes the checkpoints.
    """
    group_size = 1 + run["n_negatives"]
    seed = run["seed"]

    def sampler(q: ScoredQueries) -> GroupSampler:
        return GroupSampler(
            q, data.pool, run["n_negatives"], run["pos_top"], run["neg_bottom"],
            drop_same_label, seed,
        )  # fmt: skip

    ckpt = run["out_dir"].rstrip("/") + ".ckpt"
    last = prepare_checkpoints(ckpt, run_fingerprint(run), run["resume"])
    args = make_training_args(
        ckpt, run["steps"], run["batch_size"], run["lr"], run["warmup_ratio"],
        run["weight_decay"], seed, run["grad_accum"], run["save_steps"],
        run["gradient_checkpointing"],
    )  # fmt: skip
    n_items = run["steps"] * args.per_device_train_batch_size * args.gradient_accumulation_steps
    dataset = GroupDataset(sampler(data.train), n_items * world_size())
    collator = make_collator(data.train)
    trainer = GroupTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        loss_fn=loss_fn,
        callbacks=list(EXTRA_CALLBACKS),
    )
    trainer.train(resume_from_checkpoint=last)
    if not trainer.is_world_process_zero():
        return

    model = trainer.model
    model.eval()
    device = next(model.parameters()).device

    def score_groups(coll: Callable[[list[dict]], dict]) -> Callable[[list[dict]], torch.Tensor]:
        def fn(items: list[dict]) -> torch.Tensor:
            batch = {k: v.to(device) for k, v in coll(items).items()}
            return score_batch(model, batch, device)

        return fn

    bs = max(1, per_device_batch(run["batch_size"], run["grad_accum"]))
    tr_acc, tr_mrr, tr_n = group_accuracy(score_groups(collator), dataset, EVAL_GROUPS, bs)
    hb_acc, hb_mrr, hb_n = float("nan"), float("nan"), 0
    q_hb = data.heldback
    if len(q_hb):
        hb_ds = GroupDataset(sampler(q_hb), len(q_hb))
        hb_coll = make_collator(q_hb)
        hb_acc, hb_mrr, hb_n = group_accuracy(score_groups(hb_coll), hb_ds, EVAL_GROUPS, bs)
    save_model_atomically(model, tok, run["out_dir"])
    steps_done = int(trainer.state.global_step)
    acc, mrr = acc_names
    metrics = {
        "loss_curve": loss_curve(trainer),
        f"train_{acc}": tr_acc,
        f"train_{mrr}": tr_mrr,
        "train_eval_groups": tr_n,
        f"heldback_{acc}": hb_acc,
        f"heldback_{mrr}": hb_mrr,
        "n_heldback_groups": hb_n,
        "n_queries": len(data.train),
        "n_groups": steps_done * args.per_device_train_batch_size
        * args.gradient_accumulation_steps * world_size(),
        "group_size": group_size,
        "filter_counts": data.counts,
        "steps": steps_done,
        "resumed_from": last,
        "time_s": time.time() - t0,
        **(extra_metrics(trainer) if extra_metrics else {}),
    }  # fmt: skip
    write_json(metrics, run["metrics_out"])
    shutil.rmtree(ckpt, ignore_errors=True)


def train_reward(
    scores: Sequence[str],
    train: str,
    passages: str,
    tasks: str,
    init_model: str,
    out_dir: str,
    metrics_out: str,
    max_length: int = 384,
    pos_top: int = 3,
    neg_bottom: int = 16,
    n_negatives: int = 7,
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 1e-5,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    seed: int = 42,
    heldback_fraction: float = 0.1,
    grad_accum: int = 1,
    resume: bool = True,
    save_steps: int = 500,
    gradient_checkpointing: bool = False,
) -> None:
    """Train the cross-encoder reward model on LLM-score files (union over rounds).

    ``batch_size`` groups of ``1 + n_negatives`` pairs per optimizer step (split over
    processes and ``grad_accum``). ``train`` is accepted for the stage contract (the score
    files carry the example columns). Checkpoints go to ``out_dir + ".ckpt"``.
    """
    kwargs = dict(locals())
    t0 = time.time()
    data = load_groups(list(scores), passages, tasks, heldback_fraction, steps, True)
    log.info("reward model: %s", data.counts)

    set_seed(seed)
    tok = AutoTokenizer.from_pretrained(init_model)
    model = AutoModelForSequenceClassification.from_pretrained(init_model, num_labels=1)
    if model.config.pad_token_id is None and tok.pad_token_id is not None:
        model.config.pad_token_id = tok.pad_token_id
    group_size = 1 + n_negatives

    def loss_fn(m: torch.nn.Module, inputs: dict) -> torch.Tensor:
        logits = m(**inputs).logits.view(-1, group_size)
        return listwise_ce(logits)

    def score_batch(m: torch.nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        with autocast_context(device):
            return m(**batch).logits.float().view(-1, group_size)

    def runtime(trainer: Trainer) -> dict[str, float]:
        last_log = trainer.state.log_history[-1]
        return {"train_runtime_s": float(last_log.get("train_runtime", float("nan")))}

    fit_groups(
        kwargs, t0, model, tok, data, False,
        lambda q: RewardCollator(tok, q, data.pool, max_length),
        loss_fn, score_batch, ("group_acc", "group_mrr"), runtime,
    )  # fmt: skip


# ---------------------------------------------------------------- scoring


@torch.no_grad()
def score_pairs(
    model,
    tokenizer,
    firsts: Sequence[str],
    seconds: Sequence[str],
    max_length: int = 384,
    batch_size: int = 64,
    progress: bool = True,
    desc: str = "reward",
) -> np.ndarray:
    """Cross-encoder scores (N,) float32 of pairs, batched by length (longest first)."""
    n = len(firsts)
    out = np.zeros(n, dtype=np.float32)
    if n == 0:
        return out
    device = next(model.parameters()).device
    order = np.argsort(
        [-(len(a) + len(b)) for a, b in zip(firsts, seconds, strict=True)], kind="stable"
    )
    was_training = model.training
    model.eval()
    with contextlib.ExitStack() as stack:
        stack.enter_context(autocast_context(device))
        for start in tqdm(range(0, n, batch_size), desc=desc, disable=not progress, mininterval=5):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [firsts[i] for i in idx],
                [seconds[i] for i in idx],
                truncation="longest_first",
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            out[idx] = model(**batch).logits[:, 0].float().cpu().numpy()
    model.train(was_training)
    return out


def load_reward_model(model_dir: str, device: str | None = None):
    """(model, tokenizer) of a trained reward model, in eval mode on ``device``."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    return model.to(device or pick_device()).eval(), tok


def reward_score(
    model_dir: str,
    scores: Sequence[str],
    passages: str,
    out: str,
    max_length: int = 384,
    batch_size: int = 64,
) -> None:
    """Teacher table: the reward model's score of every (query, candidate) of the union of
    the LLM-score files (doc order kept). Held-back queries are included (agreement needs
    them); distillation skips them by the same hash rule."""
    df = merge_scored(list(scores))
    pool = PassagePool.load(passages)
    model, tok = load_reward_model(model_dir)
    firsts, seconds, sizes = [], [], []
    for rec in df.to_dict("records"):
        where = f"query {rec['query_id']}"
        text = reward_query_text(rec["query"], gold_text(rec["answers"], rec["options"], where))
        idx = pool.lookup(rec["doc_ids"], f"{list(scores)}: {where}")
        firsts += [text] * len(idx)
        seconds += [pool.contents[i] for i in idx]
        sizes.append(len(idx))
    flat = score_pairs(model, tok, firsts, seconds, max_length, batch_size, desc="reward_score")
    bounds = np.cumsum([0, *sizes])
    table = df[list(EXAMPLE_FIELDS)].copy()
    table["doc_ids"] = [list(map(str, d)) for d in df["doc_ids"]]
    table["doc_scores"] = [
        flat[a:b].astype(float).tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    write_parquet(pd.DataFrame(table), out)
    log.info("reward_score: %d queries, %d pairs -> %s", len(df), len(flat), out)
