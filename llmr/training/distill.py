"""Bi-encoder retrievers trained on scored candidates: LLM-R, ``llm_kd`` and EPR.

One shared encoder for queries and passages, mean pooling, L2 normalisation, temperature
0.01. Loss per batch = ``kd_weight`` x KL(teacher group distribution || student group
distribution) + ``contrastive_weight`` x the in-batch contrastive loss (one softmax per
query over every passage of the batch, plus positive->query, query->query and
positive->positive scores; across processes the gathered embeddings' gradient is summed,
as the reference's). Trained by the shared loop in ``llmr.training.loop``, which logs the loss
diagnostics (``DIAGNOSTICS``: both terms, the KL target's max probability and entropy).
Teacher settings for the issue-24 hypotheses (defaults: the reference): a KL temperature,
per-query standardisation and the LLM scorer's penalties (``train_retriever``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer, set_seed

from llmr.core.device import autocast_context
from llmr.core.io import read_table
from llmr.core.records import CLASSIFICATION, CROSS_TASK_PENALTY, gold_text
from llmr.models.encoder import embed
from llmr.scoring.score import pair_penalty
from llmr.training.groups import PassagePool, ScoredQueries
from llmr.training.loop import (
    GroupSpec,
    GroupTask,
    TrainConfig,
    fit_groups,
    load_groups,
    run_fingerprint,
)

log = logging.getLogger(__name__)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward all-reduces (sums) the gradient of the gathered tensor and
    returns the local shard's rows: each process gets d(sum of every process's loss)/d(its
    rows), as the reference's ``Gather`` (with DDP's averaging: the gradient of the mean
    loss over processes)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows, ctx.rank = x.shape[0], dist.get_rank()
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All-gather (B, H) rows from every process into (world*B, H), differentiable: the
    backward pass sums the gathered tensor's gradient over processes (``_GatherWithGrad``),
    so in-batch negatives from other shards contribute to this shard's gradient. Returns
    the gathered tensor and the local shard's row offset. Without an initialised process
    group (or one process) returns ``(x, 0)``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    return _GatherWithGrad.apply(x), dist.get_rank() * x.shape[0]


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
    logits = (
        torch.cat(
            [
                q @ all_p.T,
                (pos @ all_q.T).masked_fill(own, neg),
                (q @ all_q.T).masked_fill(own, neg),
                (pos @ all_pos.T).masked_fill(own, neg),
            ],
            1,
        )
        / temperature
    )
    target = (torch.arange(b, device=q.device) + off) * g
    return F.cross_entropy(logits.float(), target)


def kl_group_loss(
    student: torch.Tensor, teacher: torch.Tensor, teacher_temperature: float
) -> torch.Tensor:
    """KL(softmax(teacher / t) || softmax(student)), both (B, G) logits; mean over B.

    ``teacher_temperature`` t = 1 is the reference; t > 1 flattens the target, t < 1 sharpens
    it."""
    t = F.log_softmax(teacher.float() / teacher_temperature, -1)
    s = F.log_softmax(student.float(), -1)
    return (t.exp() * (t - s)).sum(-1).mean()


def teacher_stats(
    teacher: torch.Tensor, teacher_temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean max probability, mean entropy in nats) over the groups of the KL target
    ``softmax(teacher / t)``; teacher (B, G). A max probability near 1 (entropy near 0) is a
    one-hot target; 1/G (entropy ln G) a uniform one."""
    with torch.no_grad():
        logp = F.log_softmax(teacher.float() / teacher_temperature, -1)
        prob = logp.exp()
        return prob.max(-1).values.mean(), -(prob * logp).sum(-1).mean()


def distill_loss(
    q: torch.Tensor,
    p: torch.Tensor,
    teacher: torch.Tensor,
    *,
    temperature: float,
    contrastive_weight: float,
    kd_weight: float,
    teacher_temperature: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total, KL and contrastive loss: ``kd_weight * KL + contrastive_weight * CE``.

    q: (B, H) normalised query embeddings; p: (B, G, H) normalised group passages, positive
    at index 0; teacher: (B, G) teacher scores, the KL target is ``softmax(teacher /
    teacher_temperature)``. LLM-R: kd_weight 1, contrastive_weight 0.2; EPR: kd_weight 0,
    contrastive_weight 1. Both terms are always returned (a term with weight 0 is computed
    without gradient, as a diagnostic).
    """
    student = torch.einsum("bh,bgh->bg", q, p) / temperature
    with torch.set_grad_enabled(torch.is_grad_enabled() and bool(kd_weight)):
        kl = kl_group_loss(student, teacher, teacher_temperature)
    with torch.set_grad_enabled(torch.is_grad_enabled() and bool(contrastive_weight)):
        con = contrastive_loss(q, p, temperature)
    total = student.new_zeros((), dtype=torch.float32)
    if kd_weight:
        total = total + kd_weight * kl
    if contrastive_weight:
        total = total + contrastive_weight * con
    return total, kl, con


class DistillCollator:
    """Items -> q_* (B, Lq), p_* (B*G, Lp) token tensors and ``teacher`` (B, G) float32."""

    def __init__(
        self,
        tokenizer,
        queries: ScoredQueries,
        pool: PassagePool,
        max_length: int,
        query_prefix: str,
        passage_prefix: str,
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
    *,
    pooling: str,
    temperature: float,
    kd_weight: float,
    contrastive_weight: float,
    query_prefix: str,
    passage_prefix: str,
    teacher_temperature: float,
    diagnostics: bool = False,
) -> GroupTask:
    """The bi-encoder's part of the shared loop (``llmr bench train`` times it too).

    Collator: ``DistillCollator`` -> q_* (B, Lq), p_* (B*G, Lp), teacher (B, G); loss:
    ``distill_loss`` of (B, H) queries and (B, G, H) passages; scores: (B, G) dot products.
    ``diagnostics``: the loss also returns ``{kl, contrastive, teacher_max_prob,
    teacher_entropy}`` of the micro-batch (``DIAGNOSTICS``; logged and written to the
    metrics by ``fit_groups``); off by default, where a caller wants the plain scalar.
    The settings have no defaults (a config section's: ``training_defaults``).
    """

    def loss_fn(m: torch.nn.Module, inputs: dict):
        q = embed(m, _split(inputs, "q_"), pooling)
        p = embed(m, _split(inputs, "p_"), pooling).view(q.shape[0], group_size, -1)
        loss, kl, con = distill_loss(
            q,
            p,
            inputs["teacher"],
            temperature=temperature,
            contrastive_weight=contrastive_weight,
            kd_weight=kd_weight,
            teacher_temperature=teacher_temperature,
        )
        if not diagnostics:
            return loss
        max_prob, entropy = teacher_stats(inputs["teacher"], teacher_temperature)
        return loss, dict(
            zip(DIAGNOSTICS, (kl.detach(), con.detach(), max_prob, entropy), strict=True)
        )

    def score_batch(m: torch.nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        with autocast_context(device):
            q = embed(m, _split(batch, "q_"), pooling)
            p = embed(m, _split(batch, "p_"), pooling)
        return torch.einsum("bh,bgh->bg", q, p.view(q.shape[0], group_size, -1))

    return GroupTask(
        lambda q: DistillCollator(tokenizer, q, pool, max_length, query_prefix, passage_prefix),
        loss_fn, score_batch, max_length, ("acc1", "mrr"),
    )  # fmt: skip


# Per-micro-batch diagnostics of the retriever loss (means in the logs and metrics JSON):
# the KL and contrastive terms (unweighted) and the KL target's max probability and entropy
# per group (mean over the micro-batch's groups, with the KL's teacher temperature).
DIAGNOSTICS = ("kl", "contrastive", "teacher_max_prob", "teacher_entropy")


def standardize_scores(scores: Sequence[float]) -> list[float]:
    """Per-query standardisation of teacher scores: mean 0 and standard deviation 1 over the
    scores above the penalty (-100); penalised scores (<= -100) are kept as they are, a
    constant list becomes 0."""
    s = np.asarray(scores, dtype=np.float64)
    live = s > CROSS_TASK_PENALTY
    out = s.copy()
    if live.any():
        mu, sd = s[live].mean(), s[live].std()
        out[live] = (s[live] - mu) / sd if sd > 0 else 0.0
    return out.tolist()


def penalise_scores(rec: dict, pool: PassagePool, classification: bool, where: str) -> list[float]:
    """The LLM scorer's penalty applied to one query's teacher scores: -100 for a candidate of
    another task or (classification) of the query's task with another label than the gold
    one (``llmr.scoring.score.pair_penalty``); other scores unchanged."""
    gold = gold_text(rec["answers"], rec["options"], where)
    idx = pool.lookup([str(d) for d in rec["doc_ids"]], where)
    return [
        CROSS_TASK_PENALTY
        if pair_penalty(pool.tasks[i] != rec["task_name"], classification, pool.labels[i], gold)
        else float(s)
        for i, s in zip(idx, rec["doc_scores"], strict=True)
    ]


def transform_teacher(
    files: Sequence[str | pd.DataFrame],
    passages: str,
    tasks: str,
    penalty: bool,
    standardize: bool,
) -> list[str | pd.DataFrame]:
    """Teacher tables (files or in memory) with the optional H1/H2 transforms (``penalty``
    first, then ``standardize``), or ``files`` themselves when both are off (the reference)."""
    if not (penalty or standardize):
        return list(files)
    pool = PassagePool.load(passages) if penalty else None
    tdf = read_table(tasks)
    types = dict(zip(tdf["task_name"], tdf["task_type"], strict=True))
    out = []
    for k, path in enumerate(files):
        df = (path if isinstance(path, pd.DataFrame) else read_table(path)).copy()
        path = path if isinstance(path, str) else f"table {k}"
        scores = []
        for rec in df.to_dict("records"):
            s = list(rec["doc_scores"])
            if penalty:
                s = penalise_scores(
                    rec,
                    pool,
                    types.get(rec["task_name"]) == CLASSIFICATION,
                    f"{path}: query {rec['query_id']}",
                )
            scores.append(standardize_scores(s) if standardize else [float(x) for x in s])
        df["doc_scores"] = scores
        out.append(df)
    return out


def train_retriever(
    teacher: Sequence[str],
    passages: str,
    tasks: str,
    init_model: str,
    out_dir: str,
    metrics_out: str,
    *,
    max_length: int,
    pooling: str,
    temperature: float,
    pos_top: int,
    neg_bottom: int,
    n_negatives: int,
    kd_weight: float,
    contrastive_weight: float,
    heldback_fraction: float,
    query_prefix: str,
    passage_prefix: str,
    teacher_temperature: float,
    teacher_standardize: bool,
    teacher_penalty: bool,
    freeze_position_embeddings: bool = True,
    **train: object,
) -> dict:
    """Train a bi-encoder on teacher score files (concatenated, one list per file and
    query), saved at ``out_dir``.

    LLM-R: teacher = reward-model scores, ``kd_weight`` 1 and ``contrastive_weight`` 0.2;
    ``llm_kd``: the same on raw LLM scores; EPR: LLM scores with ``kd_weight`` 0 and
    ``contrastive_weight`` 1 (contrastive only). Held-out tasks and the held-back slice are
    skipped; negatives of the query's task with its label are removed (classification).
    Hypothesis settings (defaults: the reference): ``teacher_temperature`` t, the KL target
    is softmax(teacher / t); ``teacher_standardize``: per-query standardised teacher scores;
    ``teacher_penalty``: the LLM scorer's -100 penalties (other task, wrong label) applied to
    the teacher scores, so the reference's filter (3rd best <= -100) applies to them too.
    ``train``: ``TrainConfig`` fields. No hyperparameter has a default here: the config
    schema holds them (``llmr.core.schema.training_defaults("retriever")``). Returns the
    metrics, with ``diagnostics`` (``DIAGNOSTICS``: run means over micro-batches).
    """
    cfg = TrainConfig(**train)  # type: ignore[arg-type]
    spec = GroupSpec(n_negatives, pos_top, neg_bottom, drop_same_label=True)
    tables = transform_teacher(teacher, passages, tasks, teacher_penalty, teacher_standardize)
    data = load_groups(tables, passages, tasks, heldback_fraction, reward_filters=True)
    log.info("retriever: %s", data.counts)

    set_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(init_model)
    model = AutoModel.from_pretrained(init_model)
    if freeze_position_embeddings:
        freeze_positions(model)
    task = retriever_task(
        tok,
        data.pool,
        spec.size,
        max_length,
        pooling=pooling,
        temperature=temperature,
        kd_weight=kd_weight,
        contrastive_weight=contrastive_weight,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
        teacher_temperature=teacher_temperature,
        diagnostics=True,
    )
    settings = {
        "init_model": init_model, "max_length": max_length, "pooling": pooling,
        "temperature": temperature, "kd_weight": kd_weight,
        "contrastive_weight": contrastive_weight, "heldback_fraction": heldback_fraction,
        "query_prefix": query_prefix, "passage_prefix": passage_prefix,
        "freeze_position_embeddings": freeze_position_embeddings,
        "teacher_temperature": teacher_temperature, "teacher_standardize": teacher_standardize,
        "teacher_penalty": teacher_penalty, "teacher": list(teacher), "cfg": cfg, "spec": spec,
    }  # fmt: skip
    fp = run_fingerprint(settings, [*teacher, passages, tasks])
    return fit_groups(model, tok, data, task, cfg, spec, out_dir, metrics_out, fp)
