"""Reward model: a cross-encoder trained on LLM scores, then the teacher of the retriever.

``train_reward`` fits ``AutoModelForSequenceClassification(num_labels=1)`` on groups of
(``query + "\\n" + answer``, passage) pairs with listwise softmax cross-entropy (positive at
index 0), through the shared loop in ``llmr.training.loop`` (Hugging Face ``Trainer``, so
torchrun / accelerate multi-GPU works). ``reward_score`` is the teacher: it scores the top
``topk`` retrieved candidates of every training query in the candidate files (LLM-scored
or not), plus every LLM-scored pair, and writes the teacher table (docs/METHOD.md).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

from llmr.core.device import autocast_context, pick_device
from llmr.core.io import EXAMPLE_FIELDS, read_table, write_parquet
from llmr.core.records import gold_text, real_options
from llmr.models.cross_encoder import pad_rows, score_pairs, tokenize_pairs
from llmr.training.groups import PassagePool, ScoredQueries, merge_scored
from llmr.training.loop import (
    EXTRA_CALLBACKS,  # noqa: F401  (re-exported for tests that interrupt training)
    GroupSpec,
    GroupTask,
    TrainConfig,
    fit_groups,
    load_groups,
    run_fingerprint,
)

log = logging.getLogger(__name__)
# seed of the teacher's answer draws (``pair_draw``): fixed, not a setting of the experiment
TEACHER_DRAW_SEED = 0


def reward_query_text(query: str, gold: str) -> str:
    """The cross-encoder's first segment: the query, a newline, its gold answer text."""
    return f"{query}\n{gold}"


def reward_answer(
    answers: Sequence[str], options: Sequence[str] | None, draw: int, where: str = ""
) -> str:
    """The answer text of a reward-model pair, as the reference pairs them: the gold
    option's text for multiple choice, else ``answers[draw % len(answers)]`` (the
    reference's ``random.choice(answers)``, drawn here from a seeded ``draw``)."""
    if real_options(options) or len(answers) <= 1:
        return gold_text(answers, options, where)
    return str(answers[draw % len(answers)])


def pair_draw(query_id: str, doc_id: str, seed: int) -> int:
    """A stable pseudo-random integer for a (query, passage) pair: which answer the teacher
    pairs with the query when it has several (same on every run and process)."""
    key = f"{seed}\0{query_id}\0{doc_id}".encode()
    return int.from_bytes(hashlib.sha1(key).digest()[:8], "big")


class NoTokenTypes:
    """A tokenizer that never returns ``token_type_ids`` (the reference passes none to the
    reward model: both segments get the model's default type 0); everything else is the
    wrapped tokenizer's."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, *args, **kw):
        kw["return_token_type_ids"] = False
        return self.tokenizer(*args, **kw)

    def __getattr__(self, name: str):
        return getattr(self.tokenizer, name)


def listwise_ce(logits: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy over groups with the positive at index 0.

    logits: (B, G) -> scalar mean over B.
    """
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.float(), target)


class RewardCollator:
    """Items -> tokenised pairs (B*G, L): (query + "\\n" + answer, passage contents), no
    token-type ids (the reference's input).

    The answer is the gold option's text (multiple choice) or, per pair, one of the query's
    answers drawn by a generator seeded by ``(seed, row, the group's passages)``: a function
    of the item alone, so a resumed run sees the same inputs.
    """

    def __init__(
        self, tokenizer, queries: ScoredQueries, pool: PassagePool, max_length: int, seed: int
    ):
        self.tok, self.queries, self.pool, self.max_length = tokenizer, queries, pool, max_length
        self.seed = seed
        frame = queries.frame
        self.queries_text = [str(q) for q in frame["query"]]
        # a frame without answers (synthetic benchmark groups) pairs each query with its gold
        n = len(frame)
        answers = frame["answers"] if "answers" in frame else [[g] for g in queries.golds]
        options = frame["options"] if "options" in frame else [[]] * n
        self.answers = [list(a) for a in answers]
        self.options = [list(o) if o is not None else [] for o in options]

    def firsts(self, item: dict) -> list[str]:
        """The first segment of each pair of ``item``: query + "\\n" + answer, the answer
        drawn per pair by a generator seeded by (seed, row, the group's passages)."""
        qi = int(item["qi"])
        rng = np.random.default_rng([self.seed, qi, *(int(d) for d in item["docs"])])
        draws = rng.integers(2**62, size=len(item["docs"]))
        return [
            reward_query_text(
                self.queries_text[qi],
                reward_answer(self.answers[qi], self.options[qi], int(k), f"row {qi}"),
            )
            for k in draws
        ]

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        firsts, seconds = [], []
        for it in items:
            firsts += self.firsts(it)
            seconds += [self.pool.contents[int(d)] for d in it["docs"]]
        return pad_rows(
            self.tok, tokenize_pairs(self.tok, firsts, seconds, self.max_length)["input_ids"]
        )


def reward_task(
    tokenizer, pool: PassagePool, group_size: int, max_length: int, seed: int
) -> GroupTask:
    """The reward model's part of the shared loop (``llmr bench train`` times it too).

    Collator: ``RewardCollator`` -> (B*G, L) pairs; loss: ``listwise_ce`` of the (B, G)
    logits; scores: (B, G) logits under autocast.
    """

    def loss_fn(m: torch.nn.Module, inputs: dict) -> torch.Tensor:
        return listwise_ce(m(**inputs).logits.view(-1, group_size))

    def score_batch(m: torch.nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        with autocast_context(device):
            return m(**batch).logits.float().view(-1, group_size)

    return GroupTask(
        lambda q: RewardCollator(tokenizer, q, pool, max_length, seed),
        loss_fn,
        score_batch,
        max_length,
        ("group_acc", "group_mrr"),
    )


def train_reward(
    scores: Sequence[str],
    passages: str,
    tasks: str,
    init_model: str,
    out_dir: str,
    metrics_out: str,
    *,
    max_length: int,
    pos_top: int,
    neg_bottom: int,
    n_negatives: int,
    heldback_fraction: float,
    **train: object,
) -> dict:
    """Train the cross-encoder reward model on LLM-score files (concatenated over rounds:
    one list per file and query, as the reference).

    Groups: 1 positive from the ``pos_top`` best candidates + ``n_negatives`` from the
    ``neg_bottom`` worst (never a top candidate), queries filtered by the paper's rules.
    ``train``: ``TrainConfig`` fields (steps, batch_size in groups, lr, ...). No
    hyperparameter has a default here: the config schema holds them
    (``llmr.core.schema.training_defaults("reward")``). Checkpoints go to
    ``out_dir + ".ckpt"``. Returns the metrics.
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
    task = reward_task(tok, data.pool, spec.size, max_length, cfg.seed)
    settings = {
        "init_model": init_model,
        "max_length": max_length,
        "spec": spec,
        "cfg": cfg,
        "heldback_fraction": heldback_fraction,
        "scores": list(scores),
    }
    fp = run_fingerprint(settings, [*scores, passages, tasks])
    return fit_groups(model, tok, data, task, cfg, spec, out_dir, metrics_out, fp)


# ---------------------------------------------------------------- scoring


def load_reward_model(model_dir: str, device: str | None = None):
    """(model, tokenizer) of a trained reward model, in eval mode on ``device``; the
    tokenizer returns no token-type ids (``NoTokenTypes``), as in training."""
    tok = NoTokenTypes(AutoTokenizer.from_pretrained(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    return model.to(device or pick_device()).eval(), tok


def teacher_pairs(
    candidates: Sequence[str], scores: Sequence[str], topk: int, llm_scored_only: bool = False
) -> pd.DataFrame:
    """Per query (example columns + ``doc_ids``): the first ``topk`` candidates of every
    candidate file (best first, union in order) followed by its other LLM-scored candidates.
    A candidate file with fewer than ``topk`` candidates per query gives all of them.
    ``llm_scored_only``: only the LLM-scored pairs (and so only the LLM-scored queries)."""
    if llm_scored_only:
        if not len(scores):
            raise ValueError("llm_scored_only: no LLM score files given")
        return merge_scored(list(scores)).drop(columns=["doc_scores"])
    tables: list[str | pd.DataFrame] = []
    for path in candidates:
        df = read_table(path)
        docs = [list(d)[:topk] for d in df["doc_ids"]]
        short = sum(len(d) < topk for d in docs)
        if short:
            log.warning(
                "%s: %d of %d queries have fewer than topk=%d candidates (all taken)",
                path,
                short,
                len(docs),
                topk,
            )
        tables.append(df.assign(doc_ids=docs, doc_scores=[[0.0] * len(d) for d in docs]))
    return merge_scored([*tables, *scores]).drop(columns=["doc_scores"])


def reward_score(
    model_dir: str,
    candidates: Sequence[str],
    passages: str,
    out: str,
    *,
    topk: int,
    max_length: int,
    token_budget: int,
    precision: str,
    llm_scored_only: bool,
    scores: Sequence[str] = (),
) -> None:
    """Teacher table: the reward model's score of the top ``topk`` candidates of every query
    of the candidate files (rounds 0..r, union per query: one reward model labels them all)
    and of every LLM-scored pair; with ``llm_scored_only`` of the LLM-scored pairs alone.

    Pairs: (query + "\\n" + answer, passage), no token-type ids; the answer is the gold
    option (multiple choice) or one of the query's answers chosen per pair by
    ``pair_draw(query_id, doc_id, TEACHER_DRAW_SEED)`` (the reference's ``random.choice``,
    reproducible). The settings have no defaults: the config's ``teacher`` section and
    ``reward.max_length`` (``stage_defaults(reward_score, "teacher", "reward", "precision")``).
    Held-back queries are included (agreement needs them); distillation skips them by the
    same hash rule. Output: example columns + ``doc_ids`` + ``doc_scores`` (reward logits).
    """
    df = teacher_pairs(candidates, scores, topk, llm_scored_only)
    pool = PassagePool.load(passages)
    model, tok = load_reward_model(model_dir)
    firsts, seconds, sizes = [], [], []
    for rec in df.to_dict("records"):
        where = f"query {rec['query_id']}"
        idx = pool.lookup(rec["doc_ids"], f"{list(candidates)}: {where}")
        firsts += [
            reward_query_text(rec["query"], reward_answer(
                rec["answers"], rec["options"], pair_draw(rec["query_id"], d, TEACHER_DRAW_SEED), where))
            for d in rec["doc_ids"]
        ]  # fmt: skip
        seconds += [pool.contents[i] for i in idx]
        sizes.append(len(idx))
    log.info(
        "teacher: %d queries, %d pairs (%s)",
        len(df),
        len(firsts),
        "LLM-scored pairs only"
        if llm_scored_only
        else f"top {topk} per candidate file + LLM-scored",
    )
    flat = score_pairs(
        model,
        tok,
        firsts,
        seconds,
        max_length=max_length,
        token_budget=token_budget,
        desc="teacher",
        precision=precision,
    )
    bounds = np.cumsum([0, *sizes])
    table = df[list(EXAMPLE_FIELDS)].copy()
    table["doc_ids"] = [list(map(str, d)) for d in df["doc_ids"]]
    table["doc_scores"] = [
        flat[a:b].astype(float).tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    write_parquet(pd.DataFrame(table), out)
    log.info("reward_score: %d queries, %d pairs -> %s", len(df), len(flat), out)
