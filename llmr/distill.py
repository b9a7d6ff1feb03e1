"""Distil the teacher (reward-model scores, or LLM scores for the EPR ablation) into a
bi-encoder retriever.

One shared encoder for queries and passages, mean pooling, L2 normalisation, temperature
0.01. Loss per batch = KL(teacher group distribution || student group distribution)
+ ``contrastive_weight`` x in-batch contrastive loss over the batch's queries and positives.
Trained with the Hugging Face ``Trainer`` (plumbing shared with ``llmr.reward``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer, set_seed

from llmr.device import autocast_context
from llmr.encoder import embed
from llmr.groups import PassagePool, ScoredQueries
from llmr.reward import fit_groups, load_groups

log = logging.getLogger(__name__)


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All-gather (B, H) rows from every process into (world*B, H); the local shard keeps
    its gradient path. Returns the gathered tensor and the local shard's row offset.
    Without an initialised process group (or one process) returns ``(x, 0)``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    parts = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    rank = dist.get_rank()
    parts[rank] = x
    return torch.cat(parts, 0), rank * x.shape[0]


def contrastive_loss(q: torch.Tensor, p: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch contrastive loss over queries q (B, H) and their positives p (B, H).

    Query rows: logits [q.P^T, q.Q^T with own query masked] / T, target = own positive
    (q->p with q->q negatives). Positive rows: [p.Q^T, p.P^T with own positive masked] / T,
    target = own query (p->q with p->p negatives). Returns the mean of both CE terms.
    P, Q are gathered across processes when torch.distributed is initialised.
    """
    all_q, off = gather_with_grad(q)
    all_p, _ = gather_with_grad(p)
    b, n = q.shape[0], all_q.shape[0]
    labels = torch.arange(b, device=q.device) + off
    own = F.one_hot(labels, n).bool()
    neg = torch.finfo(torch.float32).min
    qp = q @ all_p.T / temperature
    qq = (q @ all_q.T / temperature).masked_fill(own, neg)
    pq = p @ all_q.T / temperature
    pp = (p @ all_p.T / temperature).masked_fill(own, neg)
    loss_q = F.cross_entropy(torch.cat([qp, qq], 1), labels)
    loss_p = F.cross_entropy(torch.cat([pq, pp], 1), labels)
    return (loss_q + loss_p) / 2


def kl_group_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(softmax(teacher) || softmax(student)), both (B, G) logits; mean over B."""
    t = F.log_softmax(teacher.float(), -1)
    s = F.log_softmax(student.float(), -1)
    return (t.exp() * (t - s)).sum(-1).mean()


def distill_loss(
    q: torch.Tensor,
    p: torch.Tensor,
    teacher: torch.Tensor,
    temperature: float = 0.01,
    contrastive_weight: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total, KL and contrastive loss.

    q: (B, H) normalised query embeddings; p: (B, G, H) normalised group passages, positive
    at index 0; teacher: (B, G) teacher scores used as logits.
    """
    student = torch.einsum("bh,bgh->bg", q, p) / temperature
    kl = kl_group_loss(student, teacher)
    con = contrastive_loss(q, p[:, 0], temperature) if contrastive_weight else kl.new_zeros(())
    return kl + contrastive_weight * con, kl, con


def fill_teacher(scores: np.ndarray) -> np.ndarray:
    """(G,) teacher scores with NaN (random fill passages) set to the group's minimum."""
    s = np.asarray(scores, dtype=np.float64).copy()
    known = s[~np.isnan(s)]
    s[np.isnan(s)] = known.min() if len(known) else 0.0
    return s


class DistillCollator:
    """Items -> q_* (B, Lq), p_* (B*G, Lp) token tensors and ``teacher`` (B, G) float32."""

    def __init__(
        self,
        tokenizer,
        queries: ScoredQueries,
        pool: PassagePool,
        max_length: int,
        query_prefix: str = "",
        passage_prefix: str = "",
    ):
        self.tok, self.pool, self.max_length = tokenizer, pool, max_length
        self.qtexts = [query_prefix + str(q) for q in queries.frame["query"]]
        self.passage_prefix = passage_prefix

    def _tok(self, texts: list[str], prefix: str) -> dict[str, torch.Tensor]:
        enc = self.tok(
            texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        )
        return {f"{prefix}{k}": v for k, v in enc.items()}

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        q = [self.qtexts[it["qi"]] for it in items]
        p = [self.passage_prefix + self.pool.contents[int(d)] for it in items for d in it["docs"]]
        teacher = np.stack([fill_teacher(it["scores"]) for it in items])
        return {
            **self._tok(q, "q_"),
            **self._tok(p, "p_"),
            "teacher": torch.tensor(teacher, dtype=torch.float32),
        }


def _split(inputs: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in inputs.items() if k.startswith(prefix)}


def freeze_positions(model: torch.nn.Module) -> int:
    """Freeze every parameter named ``*position_embeddings*``; returns how many."""
    n = 0
    for name, param in model.named_parameters():
        if "position_embeddings" in name:
            param.requires_grad_(False)
            n += 1
    return n


def train_retriever(
    teacher: Sequence[str],
    train: str,
    passages: str,
    tasks: str,
    init_model: str,
    out_dir: str,
    metrics_out: str,
    max_length: int = 256,
    pooling: str = "mean",
    temperature: float = 0.01,
    pos_top: int = 3,
    neg_bottom: int = 16,
    n_negatives: int = 3,
    contrastive_weight: float = 0.2,
    steps: int = 6000,
    batch_size: int = 256,
    lr: float = 3e-5,
    warmup_ratio: float = 0.1,
    seed: int = 42,
    heldback_fraction: float = 0.1,
    query_prefix: str = "",
    passage_prefix: str = "",
    freeze_position_embeddings: bool = True,
    resume: bool = True,
    weight_decay: float = 0.01,
    grad_accum: int = 1,
    save_steps: int = 500,
    gradient_checkpointing: bool = False,
) -> None:
    """Distil teacher score files (union over rounds) into a bi-encoder saved at ``out_dir``.

    Held-out tasks and the held-back slice are skipped; for classification tasks negatives
    with the query's label are removed. ``train`` is accepted for the stage contract.
    Checkpoints go to ``out_dir + ".ckpt"``; a killed run resumes from the last one.
    """
    kwargs = dict(locals())
    t0 = time.time()
    data = load_groups(list(teacher), passages, tasks, heldback_fraction, steps, False)
    log.info("retriever: %s", data.counts)

    set_seed(seed)
    tok = AutoTokenizer.from_pretrained(init_model)
    model = AutoModel.from_pretrained(init_model)
    if freeze_position_embeddings:
        freeze_positions(model)
    group_size = 1 + n_negatives

    def loss_fn(m: torch.nn.Module, inputs: dict) -> torch.Tensor:
        q = embed(m, _split(inputs, "q_"), pooling)
        p = embed(m, _split(inputs, "p_"), pooling).view(q.shape[0], group_size, -1)
        loss, _, _ = distill_loss(q, p, inputs["teacher"], temperature, contrastive_weight)
        return loss

    def score_batch(m: torch.nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        with autocast_context(device):
            q = embed(m, _split(batch, "q_"), pooling)
            p = embed(m, _split(batch, "p_"), pooling)
        return torch.einsum("bh,bgh->bg", q, p.view(q.shape[0], group_size, -1))

    fit_groups(
        kwargs, t0, model, tok, data, True,
        lambda q: DistillCollator(tok, q, data.pool, max_length, query_prefix, passage_prefix),
        loss_fn, score_batch, ("acc1", "mrr"),
    )  # fmt: skip
