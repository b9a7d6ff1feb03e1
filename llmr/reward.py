"""Reward model: a cross-encoder trained on LLM scores, then the teacher of the retriever.

``train_reward`` fits ``AutoModelForSequenceClassification(num_labels=1)`` on groups of
(``query + "\\n" + gold``, passage) pairs with listwise softmax cross-entropy (positive at
index 0), through the shared loop in ``llmr.training`` (Hugging Face ``Trainer``, so
torchrun / accelerate multi-GPU works). ``reward_score`` is the teacher: it scores the top
``topk`` retrieved candidates of every training query in the candidate files (LLM-scored
or not), plus every LLM-scored pair, and writes the teacher table (docs/METHOD.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from llmr.device import autocast_context, pick_device
from llmr.groups import PassagePool, ScoredQueries, merge_scored
from llmr.io import EXAMPLE_FIELDS, read_table, write_parquet
from llmr.pairs import score_pairs
from llmr.records import gold_text
from llmr.training import (
    EXTRA_CALLBACKS,  # noqa: F401  (re-exported for tests that interrupt training)
    GroupSpec,
    GroupTask,
    TrainConfig,
    fit_groups,
    load_groups,
    run_fingerprint,
)

log = logging.getLogger(__name__)


def reward_query_text(query: str, gold: str) -> str:
    """The cross-encoder's first segment: the query, a newline, its gold answer text."""
    return f"{query}\n{gold}"


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


def reward_task(tokenizer, pool: PassagePool, group_size: int, max_length: int) -> GroupTask:
    """The reward model's part of the shared loop (``llmr bench train`` times it too).

    Collator: ``RewardCollator`` -> (B*G, L) pairs; loss: ``listwise_ce`` of the (B, G)
    logits; scores: (B, G) logits under autocast.
    """

    def loss_fn(m: torch.nn.Module, inputs: dict) -> torch.Tensor:
        return listwise_ce(m(**inputs).logits.view(-1, group_size))

    def score_batch(m: torch.nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        with autocast_context(device):
            return m(**batch).logits.float().view(-1, group_size)

    return GroupTask(lambda q: RewardCollator(tokenizer, q, pool, max_length), loss_fn,
                     score_batch, max_length, ("group_acc", "group_mrr"))


def train_reward(
    scores: Sequence[str],
    passages: str,
    tasks: str,
    init_model: str,
    out_dir: str,
    metrics_out: str,
    max_length: int = 384,
    pos_top: int = 3,
    neg_bottom: int = 16,
    n_negatives: int = 7,
    heldback_fraction: float = 0.1,
    **train: object,
) -> dict:
    """Train the cross-encoder reward model on LLM-score files (union over rounds).

    Groups: 1 positive from the ``pos_top`` best candidates + ``n_negatives`` from the
    ``neg_bottom`` worst (never a top candidate), queries filtered by the paper's rules.
    ``train``: ``TrainConfig`` fields (steps, batch_size in groups, lr, ...; defaults are
    the paper's). Checkpoints go to ``out_dir + ".ckpt"``. Returns the metrics.
    """
    cfg = TrainConfig(**train)  # type: ignore[arg-type]
    spec = GroupSpec(n_negatives, pos_top, neg_bottom, drop_same_label=False)
    data = load_groups(list(scores), passages, tasks, heldback_fraction, reward_filters=True)
    log.info("reward model: %s", data.counts)

    set_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(init_model)
    model = AutoModelForSequenceClassification.from_pretrained(init_model, num_labels=1)
    if model.config.pad_token_id is None and tok.pad_token_id is not None:
        model.config.pad_token_id = tok.pad_token_id
    task = reward_task(tok, data.pool, spec.size, max_length)
    settings = {"init_model": init_model, "max_length": max_length, "spec": spec, "cfg": cfg,
                "heldback_fraction": heldback_fraction, "scores": list(scores)}
    fp = run_fingerprint(settings, [*scores, passages, tasks])
    return fit_groups(model, tok, data, task, cfg, spec, out_dir, metrics_out, fp)


# ---------------------------------------------------------------- scoring


def load_reward_model(model_dir: str, device: str | None = None):
    """(model, tokenizer) of a trained reward model, in eval mode on ``device``."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    return model.to(device or pick_device()).eval(), tok


def teacher_pairs(
    candidates: Sequence[str], scores: Sequence[str], topk: int
) -> pd.DataFrame:
    """Per query (example columns + ``doc_ids``): the first ``topk`` candidates of every
    candidate file (best first, union in order) followed by its other LLM-scored candidates."""
    tables: list[str | pd.DataFrame] = []
    for path in candidates:
        df = read_table(path)
        docs = [list(d)[:topk] for d in df["doc_ids"]]
        tables.append(df.assign(doc_ids=docs, doc_scores=[[0.0] * len(d) for d in docs]))
    return merge_scored([*tables, *scores]).drop(columns=["doc_scores"])


def reward_score(
    model_dir: str,
    candidates: Sequence[str],
    passages: str,
    out: str,
    topk: int = 100,
    scores: Sequence[str] = (),
    max_length: int = 384,
    token_budget: int = 16384,
    precision: str = "auto",
) -> None:
    """Teacher table: the reward model's score of the top ``topk`` candidates of every query
    of the candidate files (rounds 0..r, union per query) and of every LLM-scored pair.

    Held-back queries are included (agreement needs them); distillation skips them by the
    same hash rule. Output: example columns + ``doc_ids`` + ``doc_scores`` (reward logits).
    """
    df = teacher_pairs(candidates, scores, topk)
    pool = PassagePool.load(passages)
    model, tok = load_reward_model(model_dir)
    firsts, seconds, sizes = [], [], []
    for rec in df.to_dict("records"):
        where = f"query {rec['query_id']}"
        text = reward_query_text(rec["query"], gold_text(rec["answers"], rec["options"], where))
        idx = pool.lookup(rec["doc_ids"], f"{list(candidates)}: {where}")
        firsts += [text] * len(idx)
        seconds += [pool.contents[i] for i in idx]
        sizes.append(len(idx))
    log.info("teacher: %d queries, %d pairs (top %d per candidate file + LLM-scored)",
             len(df), len(firsts), topk)
    flat = score_pairs(model, tok, firsts, seconds, max_length=max_length,
                       token_budget=token_budget, desc="teacher", precision=precision)
    bounds = np.cumsum([0, *sizes])
    table = df[list(EXAMPLE_FIELDS)].copy()
    table["doc_ids"] = [list(map(str, d)) for d in df["doc_ids"]]
    table["doc_scores"] = [
        flat[a:b].astype(float).tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    write_parquet(pd.DataFrame(table), out)
    log.info("reward_score: %d queries, %d pairs -> %s", len(df), len(flat), out)
