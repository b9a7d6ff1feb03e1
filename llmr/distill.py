"""Bi-encoder retrievers trained on scored candidates: LLM-R, ``llm_kd`` and EPR.

One shared encoder for queries and passages, mean pooling, L2 normalisation, temperature
0.01. Loss per batch = ``kd_weight`` x KL(teacher group distribution || student group
distribution) + ``contrastive_weight`` x the in-batch contrastive loss (one softmax per
query over every passage of the batch, plus positive->query, query->query and
positive->positive scores). Trained by the shared loop in ``llmr.training``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer, set_seed

from llmr.device import autocast_context
from llmr.encoder import embed
from llmr.groups import PassagePool, ScoredQueries
from llmr.training import (
    GroupSpec,
    GroupTask,
    TrainConfig,
    fit_groups,
    load_groups,
    run_fingerprint,
)

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
    """In-batch contrastive loss, one softmax per query (the reference's formulation).

    q: (B, H) queries; p: (B, G, H) their groups, positive at index 0. With Q, P the
    queries and all B*G passages gathered from every process and P+ the positives, row b
    holds ``[q_b.P, p+_b.Q, q_b.Q, p+_b.P+] / T`` with the three own-item entries of the
    last blocks masked; the target is q_b's positive in P. Returns the mean over B.
    """
    b, g, _ = p.shape
    all_q, off = gather_with_grad(q)
    all_p, _ = gather_with_grad(p.reshape(b * g, -1))
    pos, all_pos = p[:, 0], all_p[::g]
    own = F.one_hot(torch.arange(b, device=q.device) + off, all_q.shape[0]).bool()
    neg = torch.finfo(torch.float32).min
    logits = torch.cat(
        [
            q @ all_p.T,
            (pos @ all_q.T).masked_fill(own, neg),
            (q @ all_q.T).masked_fill(own, neg),
            (pos @ all_pos.T).masked_fill(own, neg),
        ],
        1,
    ) / temperature
    target = (torch.arange(b, device=q.device) + off) * g
    return F.cross_entropy(logits.float(), target)


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
    kd_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total, KL and contrastive loss: ``kd_weight * KL + contrastive_weight * CE``.

    q: (B, H) normalised query embeddings; p: (B, G, H) normalised group passages, positive
    at index 0; teacher: (B, G) teacher scores used as logits. LLM-R: kd_weight 1,
    contrastive_weight 0.2; EPR: kd_weight 0, contrastive_weight 1.
    """
    student = torch.einsum("bh,bgh->bg", q, p) / temperature
    kl = kl_group_loss(student, teacher) if kd_weight else student.new_zeros(())
    con = contrastive_loss(q, p, temperature) if contrastive_weight else student.new_zeros(())
    return kd_weight * kl + contrastive_weight * con, kl, con


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
        teacher = np.stack([it["scores"] for it in items])
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


def retriever_task(
    tokenizer,
    pool: PassagePool,
    group_size: int,
    max_length: int,
    pooling: str = "mean",
    temperature: float = 0.01,
    kd_weight: float = 1.0,
    contrastive_weight: float = 0.2,
    query_prefix: str = "",
    passage_prefix: str = "",
) -> GroupTask:
    """The bi-encoder's part of the shared loop (``llmr bench train`` times it too).

    Collator: ``DistillCollator`` -> q_* (B, Lq), p_* (B*G, Lp), teacher (B, G); loss:
    ``distill_loss`` of (B, H) queries and (B, G, H) passages; scores: (B, G) dot products.
    """

    def loss_fn(m: torch.nn.Module, inputs: dict) -> torch.Tensor:
        q = embed(m, _split(inputs, "q_"), pooling)
        p = embed(m, _split(inputs, "p_"), pooling).view(q.shape[0], group_size, -1)
        loss, _, _ = distill_loss(q, p, inputs["teacher"], temperature, contrastive_weight,
                                  kd_weight)
        return loss

    def score_batch(m: torch.nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        with autocast_context(device):
            q = embed(m, _split(batch, "q_"), pooling)
            p = embed(m, _split(batch, "p_"), pooling)
        return torch.einsum("bh,bgh->bg", q, p.view(q.shape[0], group_size, -1))

    return GroupTask(
        lambda q: DistillCollator(tokenizer, q, pool, max_length, query_prefix, passage_prefix),
        loss_fn, score_batch, max_length, ("acc1", "mrr"),
    )  # fmt: skip


def train_retriever(
    teacher: Sequence[str],
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
    kd_weight: float = 1.0,
    contrastive_weight: float = 0.2,
    heldback_fraction: float = 0.1,
    query_prefix: str = "",
    passage_prefix: str = "",
    freeze_position_embeddings: bool = True,
    **train: object,
) -> dict:
    """Train a bi-encoder on teacher score files (union over rounds), saved at ``out_dir``.

    LLM-R: teacher = reward-model scores, ``kd_weight`` 1 and ``contrastive_weight`` 0.2;
    ``llm_kd``: the same on raw LLM scores; EPR: LLM scores with ``kd_weight`` 0 and
    ``contrastive_weight`` 1 (contrastive only). Held-out tasks and the held-back slice are
    skipped; negatives of the query's task with its label are removed (classification).
    ``train``: ``TrainConfig`` fields (defaults are the paper's). Returns the metrics.
    """
    cfg = TrainConfig(**train)  # type: ignore[arg-type]
    spec = GroupSpec(n_negatives, pos_top, neg_bottom, drop_same_label=True)
    data = load_groups(list(teacher), passages, tasks, heldback_fraction, reward_filters=True)
    log.info("retriever: %s", data.counts)

    set_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(init_model)
    model = AutoModel.from_pretrained(init_model)
    if freeze_position_embeddings:
        freeze_positions(model)
    task = retriever_task(tok, data.pool, spec.size, max_length, pooling, temperature,
                          kd_weight, contrastive_weight, query_prefix, passage_prefix)
    settings = {
        "init_model": init_model, "max_length": max_length, "pooling": pooling,
        "temperature": temperature, "kd_weight": kd_weight,
        "contrastive_weight": contrastive_weight, "heldback_fraction": heldback_fraction,
        "query_prefix": query_prefix, "passage_prefix": passage_prefix,
        "freeze_position_embeddings": freeze_position_embeddings,
        "teacher": list(teacher), "cfg": cfg, "spec": spec,
    }  # fmt: skip
    fp = run_fingerprint(settings, [*teacher, passages, tasks])
    return fit_groups(model, tok, data, task, cfg, spec, out_dir, metrics_out, fp)
