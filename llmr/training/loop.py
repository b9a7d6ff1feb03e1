"""The group-training loop shared by the reward model and the bi-encoder retrievers.

A model is trained on *groups*: one positive and ``n_negatives`` negatives per query,
sampled by ``llmr.training.groups.GroupSampler``. The caller owns the loss (``loss_fn``) and the
collator; this module owns the rest: the group stream, ``TrainingArguments``, token-budget
micro-batches with gradient accumulation, checkpoints that resume, group accuracy on the
training and held-back queries, atomic saving and the metrics JSON.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch.utils.data import Dataset, SequentialSampler
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from llmr.core.device import autocast_dtype
from llmr.core.io import atomic_path, write_json
from llmr.training import kernels
from llmr.training.groups import GroupSampler, PassagePool, ScoredQueries, load_scored

log = logging.getLogger(__name__)

# Extra Trainer callbacks (tests use it to simulate an interruption).
EXTRA_CALLBACKS: list[TrainerCallback] = []
EVAL_GROUPS = 256  # groups used for the train / held-back accuracies in the metrics


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation settings of one group-training run. No defaults: they live in the config
    schema (``llmr.core.schema.training_defaults`` gives them to direct callers), except
    ``resume``, which is not a setting of the experiment."""

    steps: int = field(metadata={"help": "optimizer steps"})
    batch_size: int = field(metadata={"help": "groups per optimizer step"})
    lr: float = field(metadata={"help": "peak learning rate (linear decay)"})
    warmup_ratio: float = field(metadata={"help": "fraction of steps warming up"})
    weight_decay: float = field(metadata={"help": "AdamW weight decay"})
    grad_accum: int = field(metadata={"help": "minimum micro-batches per step"})
    token_budget: int = field(
        metadata={
            "help": "max padded tokens per micro-batch (groups x group size x max "
            "length); more micro-batches are accumulated to stay under it"
        },
    )
    seed: int = field(metadata={"help": "seed of the model head and the groups"})
    save_steps: int = field(metadata={"help": "checkpoint every N steps"})
    attention_budget: int | None = field(
        metadata={
            "help": "max rows x L x L of one forward pass (attention scores per head and "
            "layer); a longer micro-batch runs in row chunks under activation "
            "checkpointing, so memory stays bounded on long inputs (None: never chunk)"
        },
    )
    gradient_checkpointing: bool = field(
        metadata={
            "help": "recompute activations in the backward pass: about a third more "
            "compute, far less memory (CPU attention with dropout keeps B x heads x L x L "
            "probabilities per layer)"
        },
    )
    fast_kernels: bool = field(
        metadata={
            "help": "CPU: llmr's dropout and chunked attention kernels and malloc reuse "
            "(llmr.training.kernels), fused AdamW; the same loss as torch's kernels (False)"
        },
    )
    resume: bool = field(default=True, metadata={"help": "resume from matching checkpoints"})


def train_config(settings: dict[str, Any], **overrides: Any) -> TrainConfig:
    """A ``TrainConfig`` from a config section's settings (other keys are ignored), e.g.
    ``train_config(training_defaults("reward"), steps=8)``."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in (settings | overrides).items() if k in names})


@dataclass(frozen=True)
class GroupSpec:
    """How training groups are drawn from scored candidates (see ``llmr.training.groups``).
    The counts have no defaults: they are a config section's (``group_spec``)."""

    n_negatives: int
    pos_top: int
    neg_bottom: int
    drop_same_label: bool = False  # drop same-task same-label negatives (classification)
    reward_filters: bool = True  # the paper's filters: > 3 candidates, 3rd best > -100

    @property
    def size(self) -> int:
        return 1 + self.n_negatives

    def sampler(self, queries: ScoredQueries, pool: PassagePool, seed: int) -> GroupSampler:
        """The ``GroupSampler`` that draws this spec's groups from ``queries``."""
        return GroupSampler(
            queries,
            pool,
            self.n_negatives,
            self.pos_top,
            self.neg_bottom,
            self.drop_same_label,
            seed,
        )


def group_spec(settings: dict[str, Any], **flags: bool) -> GroupSpec:
    """A ``GroupSpec`` from a config section's settings (other keys are ignored), e.g.
    ``group_spec(training_defaults("retriever"), drop_same_label=True)``."""
    return GroupSpec(**{k: settings[k] for k in ("n_negatives", "pos_top", "neg_bottom")}, **flags)


class GroupDataset(Dataset):
    """A virtual stream of groups: item i is (epoch i // N, the (i % N)-th query of that
    epoch's seeded permutation). Groups are resampled every epoch and depend only on
    (seed, epoch, query), so a resumed run sees exactly the same data.

    Items: {"qi": int, "docs": (G,) int64 pool indices, "scores": (G,) float64}.
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
    """``Trainer`` with a pluggable loss ``loss_fn(model, inputs) -> scalar`` (the model
    wrapped in ``BoundedForward(model, attention_budget)``) and the dataset read in order
    (the dataset itself is already shuffled per epoch). ``fast_kernels``: the model runs on
    ``llmr.training.kernels`` until ``restore_kernels()`` (call it before saving)."""

    loss_is_scaled_for_ga = False  # our loss is a per-micro-batch mean

    def __init__(
        self,
        *args,
        loss_fn: Callable[[torch.nn.Module, dict], LossOutput],
        attention_budget: int | None = None,
        fast_kernels: bool = False,
        **kw,
    ):
        super().__init__(*args, **kw)
        self.loss_fn, self.attention_budget = loss_fn, attention_budget
        # llmr.training.kernels on the CPU, and length-sorted row chunks (BoundedForward.sort_rows)
        self.sort_rows = fast_kernels
        self.restore_kernels = kernels.install(self.model) if fast_kernels else lambda: None
        self.diagnostics = Diagnostics()

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = self.loss_fn(BoundedForward(model, self.attention_budget, self.sort_rows), inputs)
        loss, extras = out if isinstance(out, tuple) else (out, {})
        if model.training:
            self.diagnostics.add(extras)
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], *args, **kw) -> None:
        """Trainer logs plus the means of the loss diagnostics since the last log line."""
        if "loss" in logs:
            logs = {**logs, **self.diagnostics.flush()}
        super().log(logs, *args, **kw)


# A loss function returns the scalar loss, or (loss, {name: scalar}) with per-micro-batch
# diagnostics (e.g. the KL and contrastive terms), averaged into the logs and the metrics.
LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, Any]]


class Diagnostics:
    """Running means of named per-micro-batch scalars: since the last flush and overall."""

    def __init__(self):
        self.recent: dict[str, list[float]] = {}
        self.total: dict[str, list[float]] = {}

    def add(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            x = float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
            for d in (self.recent, self.total):
                d.setdefault(k, []).append(x)

    def flush(self) -> dict[str, float]:
        """Means since the last flush (then cleared)."""
        out = {k: float(np.mean(v)) for k, v in self.recent.items() if v}
        self.recent = {}
        return out

    def means(self) -> dict[str, float]:
        """Means over every micro-batch of the run (this process)."""
        return {k: float(np.mean(v)) for k, v in self.total.items() if v}


class BoundedForward:
    """``model(**inputs)`` whose memory is bounded by ``budget`` (rows x L x L), and whose
    padding is cut by running rows of similar length together (``sort_rows``).

    Inputs are (N, L) right-padded tensors. ``sort_rows``: the rows are sorted by length and
    run in up to ``MAX_LENGTH_CHUNKS`` chunks of at least ``LENGTH_CHUNK_TOKENS`` real
    tokens, each cut to its own longest row, then put back in order (rows are independent:
    the same outputs, less padding). When the activations the backward pass would hold,
    rows x L x L summed over the chunks, exceed the budget, every chunk runs under
    non-reentrant activation checkpointing (RNG state preserved, so dropout is the same in
    the recomputation), in equal row parts of at most the budget each: the backward pass
    holds one part's activations at a time, for one extra forward of those rows (the
    budget bounds the whole call, not each length chunk). Returns the model's
    output class with its tensors concatenated in input order (e.g. logits (N, 1),
    last_hidden_state (N, L, H), zero past each chunk's length).
    """

    MAX_LENGTH_CHUNKS = 4
    LENGTH_CHUNK_TOKENS = 640

    def __init__(self, model: torch.nn.Module, budget: int | None, sort_rows: bool = False):
        self.model, self.budget, self.sort_rows = model, budget, sort_rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def chunks(self, n: int, length: int) -> int:
        """Number of row chunks for an (n, length) batch."""
        if not self.budget or n * length * length <= self.budget:
            return 1
        return min(n, math.ceil(n * length * length / self.budget))

    def length_order(self, mask: torch.Tensor) -> list[torch.Tensor] | None:
        """Row indices of each length chunk (longest rows first), or None to run the batch
        whole (one chunk would do, or the mask is not right-padded)."""
        lengths = mask.sum(1)
        k = min(self.MAX_LENGTH_CHUNKS, int(lengths.sum()) // self.LENGTH_CHUNK_TOKENS)
        if k < 2 or int(lengths.min()) == mask.shape[1]:
            return None
        if not bool((mask[:, 1:] <= mask[:, :-1]).all()):  # left padding or holes
            return None
        order = torch.argsort(lengths, descending=True, stable=True)
        return list(torch.tensor_split(order, k))

    def __call__(self, **inputs: torch.Tensor | None) -> Any:
        tensors = {k: v for k, v in inputs.items() if v is not None}
        mask = tensors.get("attention_mask")
        parts = self.length_order(mask) if self.sort_rows and mask is not None else None
        if parts is None:
            return self._bounded(tensors)
        n, length = mask.shape
        cuts = [int(mask[idx].sum(1).max()) for idx in parts]
        held = sum(len(idx) * cut * cut for idx, cut in zip(parts, cuts, strict=True))
        bound = bool(self.budget) and held > self.budget
        outs = []
        for idx, cut in zip(parts, cuts, strict=True):
            outs.append(
                self._bounded(
                    {
                        k: (v[idx, :cut] if v.dim() == 2 and v.shape == mask.shape else v[idx])
                        for k, v in tensors.items()
                    },
                    bound,
                )
            )
        inverse = torch.empty_like(torch.cat(parts))
        inverse[torch.cat(parts)] = torch.arange(n)
        merged = {}
        for key in outs[0].keys():
            vals = [o[key] for o in outs]
            if vals[0].dim() == 3 and key.endswith("hidden_state"):  # (rows, cut, H)
                vals = [F.pad(v, (0, 0, 0, length - v.shape[1])) for v in vals]
            merged[key] = torch.cat(vals)[inverse.to(vals[0].device)]
        return type(outs[0])(**merged)

    def _bounded(self, tensors: dict[str, torch.Tensor], bound: bool = False) -> Any:
        """``model(**tensors)``, in checkpointed row parts where the budget says so
        (``bound``: checkpointed even where the rows fit the budget in one part)."""
        n, length = tensors["input_ids"].shape[:2]
        k = self.chunks(n, length)
        if (k == 1 and not bound) or not torch.is_grad_enabled():
            return self.model(**tensors)
        names, shape = list(tensors), {}

        def run(*values: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.model(**dict(zip(names, values, strict=True)))
            shape["cls"], shape["keys"] = type(out), list(out.keys())
            return tuple(out.values())

        size = math.ceil(n / k)
        parts = [
            torch.utils.checkpoint.checkpoint(
                run, *(v[s : s + size] for v in tensors.values()), use_reentrant=False)
            for s in range(0, n, size)
        ]  # fmt: skip
        merged = {key: torch.cat([p[i] for p in parts]) for i, key in enumerate(shape["keys"])}
        return shape["cls"](**merged)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def micro_batching(cfg: TrainConfig, group_size: int, max_length: int) -> tuple[int, int]:
    """(groups per device and micro-batch, micro-batches per step).

    The padded size of a micro-batch (groups x ``group_size`` sequences x ``max_length``
    tokens) stays under ``cfg.token_budget``, so peak memory does not grow with the batch
    size: a larger batch only accumulates more micro-batches. At a fixed budget it still
    grows with ``max_length`` where attention probabilities are materialised (on a CPU,
    training with attention dropout keeps (micro x group_size, heads, L, L) per layer):
    there ``cfg.attention_budget`` bounds it by running long micro-batches in checkpointed
    row chunks (``BoundedForward``; ``llmr bench train --long-inputs`` measures it).

    ``micro x accum`` is exactly the groups per device and step: the number of micro-batches
    is the smallest divisor of the per-device batch that keeps each under the budget (a
    prime batch larger than the budget therefore runs one group per micro-batch).
    """
    world = world_size()
    per_device = max(1, cfg.batch_size // world)
    if cfg.batch_size % world:
        log.warning(
            "batch_size %d is not a multiple of %d processes: %d groups per step",
            cfg.batch_size,
            world,
            per_device * world,
        )
    fit = max(1, cfg.token_budget // max(1, group_size * max_length))
    accum = max(cfg.grad_accum, math.ceil(per_device / fit))
    while per_device % accum:
        accum += 1
    return per_device // accum, accum


def make_training_args(
    ckpt_dir: str, cfg: TrainConfig, micro: int, accum: int
) -> TrainingArguments:
    """TrainingArguments: bf16/fp16 where ``autocast_dtype`` says so, CPU when no CUDA,
    checkpoints every ``save_steps`` into ``ckpt_dir`` (2 kept), activation checkpointing
    when ``cfg.gradient_checkpointing`` (CPU or GPU)."""
    cuda = torch.cuda.is_available()
    dtype = autocast_dtype("cuda" if cuda else "cpu")
    extra: dict[str, Any] = {}
    if cfg.gradient_checkpointing:
        names = inspect.signature(TrainingArguments).parameters
        key = "activation_checkpointing" if "activation_checkpointing" in names else None
        extra[key or "gradient_checkpointing"] = True
    return TrainingArguments(
        output_dir=ckpt_dir,
        max_steps=cfg.steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accum,
        learning_rate=cfg.lr,
        warmup_steps=int(round(cfg.warmup_ratio * cfg.steps)),
        weight_decay=cfg.weight_decay,
        lr_scheduler_type="linear",
        logging_steps=max(1, min(50, cfg.steps // 50)),
        logging_first_step=True,
        save_strategy="steps",
        save_steps=max(1, cfg.save_steps),
        save_total_limit=2,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        use_cpu=not cuda,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        ddp_find_unused_parameters=False,
        optim="adamw_torch_fused" if cfg.fast_kernels else "adamw_torch",
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
            last = last_complete_checkpoint(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    fp_file.write_text(text)
    if last:
        log.info("resuming from %s", last)
    return last


# Weights files of a saved model (one of them, or an index of shards, is present).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def checkpoint_complete(folder: Path) -> bool:
    """Whether a checkpoint folder was written to the end: the Trainer writes its
    ``trainer_state.json`` last, after the weights, optimizer and RNG states."""
    try:
        json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest complete ``checkpoint-N`` in ``ckpt_dir``, or None. Newer, incomplete ones
    (a job stopped while saving) are removed, so a resumed run never loads or rotates them."""
    steps = {}
    for d in ckpt_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        tail = d.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
        if d.is_dir() and tail.isdigit():
            steps[int(tail)] = d
    for step in sorted(steps, reverse=True):
        if checkpoint_complete(steps[step]):
            return str(steps[step])
        log.warning("removing incomplete checkpoint %s", steps[step])
        shutil.rmtree(steps[step], ignore_errors=True)
    return None


def run_fingerprint(settings: dict, files: Sequence[str]) -> dict:
    """The settings that define a run (everything but ``resume``), plus input file sizes."""
    fp = {k: v for k, v in settings.items() if k != "resume"}
    for p in files:
        if Path(p).is_file():
            fp[f"_size:{p}"] = Path(p).stat().st_size
    return fp


def loss_curve(trainer: Trainer) -> list[list[float]]:
    """[[step, loss], ...] from the trainer's log history."""
    return [[int(e["step"]), float(e["loss"])] for e in trainer.state.log_history if "loss" in e]


class ProgressLog(TrainerCallback):
    """One ``step n/N, loss, s/step, ETA`` log line at most every ``every`` seconds."""

    def __init__(self, every: float = 10.0):
        self.every, self.t0, self.last = every, time.time(), 0.0

    def on_step_end(self, args, state, control, **kw):
        now = time.time()
        if now - self.last >= self.every or state.global_step == state.max_steps:
            self.last = now
            rate = (now - self.t0) / max(1, state.global_step)
            losses = [e["loss"] for e in state.log_history if "loss" in e]
            log.info(
                "step %d/%d, loss %s, %.2f s/step, ETA %.0f s",
                state.global_step,
                state.max_steps,
                f"{losses[-1]:.4f}" if losses else "-",
                rate,
                rate * (state.max_steps - state.global_step),
            )


@dataclass
class ScoredGroups:
    """The passage pool and the train / held-back queries of a group-training run."""

    pool: PassagePool
    train: ScoredQueries
    heldback: ScoredQueries
    counts: dict[str, int]


def load_groups(
    files: list[str], passages: str, tasks: str, heldback_fraction: float, reward_filters: bool
) -> ScoredGroups:
    """The pool and the filtered train / held-back queries of score files; ValueError
    naming files and per-reason drop counts when no training query is left."""
    pool = PassagePool.load(passages)
    q_train, counts = load_scored(files, pool, tasks, heldback_fraction, "train", reward_filters)
    if len(q_train) == 0:
        reasons = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise ValueError(
            f"no training queries left after filtering {list(files)} (tasks table: {tasks}): "
            f"{reasons}. held_out_task = query from a held-out task; few_candidates = <= 3 "
            "candidates; third_best_penalised = 3rd best score <= -100 (cross-task / wrong-label "
            "penalty); heldback = reserved for agreement (heldback_fraction)"
        )
    q_hb, _ = load_scored(files, pool, tasks, heldback_fraction, "heldback", reward_filters)
    return ScoredGroups(pool, q_train, q_hb, counts)


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


def save_model_atomically(model, tokenizer, out_dir: str) -> None:
    """save_pretrained model + tokenizer into a temporary folder renamed onto ``out_dir``."""
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


@dataclass
class GroupTask:
    """What a model contributes to the shared loop.

    ``make_collator(queries) -> collate(items) -> batch dict``;
    ``loss_fn(model, batch) -> scalar`` or ``(scalar, {name: scalar diagnostic})``; ``score_batch(model, batch, device) -> (B, G)``.
    """

    make_collator: Callable[[ScoredQueries], Callable[[list[dict]], dict]]
    loss_fn: Callable[[torch.nn.Module, dict], LossOutput]
    score_batch: Callable[[torch.nn.Module, dict, torch.device], torch.Tensor]
    max_length: int
    metric_names: tuple[str, str] = ("acc1", "mrr")


def fit_groups(
    model: torch.nn.Module,
    tokenizer,
    data: ScoredGroups,
    task: GroupTask,
    cfg: TrainConfig,
    spec: GroupSpec,
    out_dir: str,
    metrics_out: str,
    fingerprint: dict,
) -> dict:
    """Train ``model`` on groups from ``data``, save it to ``out_dir`` and write metrics.

    Checkpoints go to ``out_dir + ".ckpt"`` and a rerun with the same ``fingerprint``
    resumes from the last one. On process 0: group accuracy / MRR of the positive on
    training and held-back groups, model + tokenizer saved atomically, metrics JSON
    written, checkpoints removed. Returns the metrics (empty on other processes).
    """
    t0 = time.time()
    micro, accum = micro_batching(cfg, spec.size, task.max_length)
    log.info(
        "groups of %d, %d groups per micro-batch x %d micro-batches per step (token budget %d)",
        spec.size,
        micro,
        accum,
        cfg.token_budget,
    )

    def sampler(q: ScoredQueries) -> GroupSampler:
        return spec.sampler(q, data.pool, cfg.seed)

    ckpt = out_dir.rstrip("/") + ".ckpt"
    last = prepare_checkpoints(ckpt, fingerprint, cfg.resume)
    args = make_training_args(ckpt, cfg, micro, accum)
    n_items = cfg.steps * micro * accum
    dataset = GroupDataset(sampler(data.train), n_items * world_size())
    collator = task.make_collator(data.train)
    trainer = GroupTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator,
        loss_fn=task.loss_fn, callbacks=[ProgressLog(), *EXTRA_CALLBACKS],
        attention_budget=cfg.attention_budget, fast_kernels=cfg.fast_kernels,
    )  # fmt: skip
    trainer.train(resume_from_checkpoint=last)
    if not trainer.is_world_process_zero():
        return {}

    model = trainer.model
    model.eval()
    device = next(model.parameters()).device

    def score_groups(coll: Callable[[list[dict]], dict]) -> Callable[[list[dict]], torch.Tensor]:
        def fn(items: list[dict]) -> torch.Tensor:
            batch = {k: v.to(device) for k, v in coll(items).items()}
            return task.score_batch(model, batch, device)

        return fn

    tr = group_accuracy(score_groups(collator), dataset, EVAL_GROUPS, micro)
    hb = (float("nan"), float("nan"), 0)
    if len(data.heldback):
        hb_ds = GroupDataset(sampler(data.heldback), len(data.heldback))
        hb = group_accuracy(
            score_groups(task.make_collator(data.heldback)), hb_ds, EVAL_GROUPS, micro
        )
    trainer.restore_kernels()  # the saved model loads anywhere, without llmr's kernels
    save_model_atomically(model, tokenizer, out_dir)
    steps_done = int(trainer.state.global_step)
    acc, mrr = task.metric_names
    metrics = {
        "loss_curve": loss_curve(trainer),
        "diagnostics": trainer.diagnostics.means(),
        f"train_{acc}": tr[0], f"train_{mrr}": tr[1], "train_eval_groups": tr[2],
        f"heldback_{acc}": hb[0], f"heldback_{mrr}": hb[1], "n_heldback_groups": hb[2],
        "chance_acc1": 1.0 / spec.size,
        "n_queries": len(data.train),
        "n_groups": steps_done * micro * accum * world_size(),
        "group_size": spec.size,
        "micro_batch_groups": micro,
        "grad_accum": accum,
        "filter_counts": data.counts,
        "steps": steps_done,
        "resumed_from": last,
        "train_runtime_s": float(trainer.state.log_history[-1].get("train_runtime", "nan")),
        "time_s": time.time() - t0,
        "config": asdict(cfg),
    }  # fmt: skip
    write_json(metrics, metrics_out)
    shutil.rmtree(ckpt, ignore_errors=True)
    return metrics
