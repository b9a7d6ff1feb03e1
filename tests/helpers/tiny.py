"""Tiny, randomly initialised models, a tiny task suite and synthetic LLM scores for tests
(and scripts/gpu_check.py); test-only, so not part of the llmr package.

Nothing here touches the network: tokenizers are trained on the tiny corpus itself.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from llmr.core.io import EXAMPLE_FIELDS, read_table, write_jsonl, write_parquet
from llmr.core.records import (
    CLASSIFICATION,
    CROSS_TASK_PENALTY,
    LETTERS,
    gold_text,
    passage_contents,
    query_hash,
)
from llmr.training.groups import PassagePool

_SPORTS = ["player", "striker", "goalie", "pitcher", "runner", "skater"]
_VERBS = ["scored", "kicked", "threw", "caught", "dunked", "served"]
_THINGS = ["apple", "river", "cloud", "stone", "tiger", "violin", "pepper", "anchor"]


def tiny_suite_records(seed: int = 0, n_train: int = 24, n_test: int = 8) -> dict[str, list]:
    """Three tiny tasks in the paper's released format.

    ``cls_sent`` (classification, labels good/bad), ``mc_pick`` (multiple choice, letter
    answers), ``gen_echo`` (open generation). Returns {"train": [...], "test": [...],
    "passages": [...]}; passages are the train examples of every task.
    """
    rng = random.Random(seed)
    out: dict[str, list] = {"train": [], "test": [], "passages": []}

    def make(task: str, i: int) -> dict:
        if task == "cls_sent":
            label = rng.choice(["good", "bad"])
            word = rng.choice(["great", "fine", "nice"] if label == "good" else ["awful", "poor"])
            q = f"The {rng.choice(_THINGS)} was {word} today."
            return {"query": q, "answers": [label], "options": [""]}
        if task == "mc_pick":
            opts = rng.sample(_THINGS, 3)
            gold = rng.randrange(3)
            q = f"Which is the {opts[gold]}?"
            return {"query": q, "answers": [LETTERS[gold]], "options": opts}
        a, b = rng.choice(_SPORTS), rng.choice(_VERBS)
        return {"query": f"Repeat: the {a} {b}", "answers": [f"{a} {b}"], "options": [""]}

    for task in ("cls_sent", "mc_pick", "gen_echo"):
        for split, n in (("train", n_train), ("test", n_test)):
            for i in range(n):
                rec = make(task, i)
                rec.update(query_id=f"{task}_{split}_{i}", task_name=task)
                out[split].append(rec)
                if split == "train":
                    opts = [o for o in rec["options"] if o]
                    ans = opts[LETTERS.index(rec["answers"][0])] if opts else rec["answers"][0]
                    out["passages"].append(
                        {
                            "id": f"{task}_{i}",
                            "contents": passage_contents(rec["query"], ans),
                            "task_name": task,
                        }
                    )
    return out


def write_tiny_suite(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the tiny suite as train/test/passages .jsonl.gz (released format)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, recs in tiny_suite_records(seed).items():
        write_jsonl(recs, out_dir / f"{split}.jsonl.gz")
    return out_dir


def _corpus() -> list[str]:
    recs = tiny_suite_records()
    texts = [p["contents"] for p in recs["passages"]]
    texts += [r["query"] for r in recs["test"]]
    return texts + [" ".join(_SPORTS + _VERBS + _THINGS), "good bad A B C D\n\n"]


def _train_tokenizer(kind: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(_corpus(), trainer)
        return tok
    # WordPiece's trainer breaks frequency ties differently in each process (so the tiny
    # encoder, and every tiny run's results, changed from one test session to the next):
    # the vocabulary is written out instead, in a fixed order: specials, the corpus's
    # characters, their ``##`` continuations, its whole words.
    pre = pre_tokenizers.BertPreTokenizer()
    words = sorted({w for line in _corpus() for w, _ in pre.pre_tokenize_str(line)})
    chars = sorted({c for w in words for c in w})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    tokens += [f"##{c}" for c in chars] + [w for w in words if len(w) > 1]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return tok


_TINY_SIZES = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=512,
)


def _save_tiny_model(
    out_dir: str | Path,
    seed: int,
    tokenizer_kind: str,
    tokenizer_kwargs: dict,
    config_cls,
    model_cls,
    token_ids: tuple[str, ...] = (),
    **config_kwargs,
) -> Path:
    """Seed torch, build a fast tokenizer of ``tokenizer_kind`` and a random ``model_cls``
    with the tiny sizes (vocab and ``pad_token_id`` plus ``token_ids`` attributes taken from
    the tokenizer), and save both to ``out_dir``."""
    import torch
    from transformers import PreTrainedTokenizerFast

    torch.manual_seed(seed)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(tokenizer_kind), **tokenizer_kwargs
    )
    ids = {name: getattr(tok, name) for name in ("pad_token_id", *token_ids)}
    cfg = config_cls(vocab_size=len(tok), **_TINY_SIZES, **config_kwargs, **ids)
    model = model_cls(cfg)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def make_tiny_causal_lm(out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny random LlamaForCausalLM + byte-level BPE tokenizer to ``out_dir``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    eot = "<|endoftext|>"
    return _save_tiny_model(
        out_dir, seed, "bpe", dict(eos_token=eot, pad_token=eot, bos_token=eot),
        LlamaConfig, LlamaForCausalLM, ("bos_token_id", "eos_token_id"),
        num_key_value_heads=2, tie_word_embeddings=True,
    )  # fmt: skip


def make_tiny_encoder(out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tiny random BertModel + WordPiece tokenizer to ``out_dir``."""
    from transformers import BertConfig, BertModel

    special = dict(
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    return _save_tiny_model(out_dir, seed, "wordpiece", special, BertConfig, BertModel)


def synthetic_scores(
    train: str,
    passages: str,
    tasks: str,
    out: str,
    n_candidates: int = 16,
    cross_task: int = 2,
    seed: int = 0,
) -> None:
    """Write a synthetic LLM-score table (for tests and dry runs, not for results).

    Per training query: ``n_candidates - cross_task`` random passages of its own task plus
    ``cross_task`` from other tasks (never its own passage). Score = -1 + N(0, 0.5), -100
    added for other-task candidates and, for classification tasks with a label set, for
    candidates whose label differs from the gold text (the LLM scorer's penalties).
    """
    rng = np.random.default_rng(seed)
    pool = PassagePool.load(passages)
    tdf = read_table(tasks)
    labelled = {
        t for t, ty, lab in zip(tdf["task_name"], tdf["task_type"], tdf["labels"], strict=True)
        if ty == CLASSIFICATION and len(lab)
    }  # fmt: skip
    pdf = read_table(passages)
    by_task: dict[str, np.ndarray] = {
        t: np.flatnonzero(pdf["task_name"].to_numpy() == t) for t in pdf["task_name"].unique()
    }
    rows = []
    for rec in read_table(train).to_dict("records"):
        gold = gold_text(rec["answers"], rec["options"], str(rec["query_id"]))
        own = set(pool.by_hash.get(query_hash(rec["query"], rec["answers"], rec["options"]), []))
        own.add(pool.index.get(str(rec["query_id"]), -1))
        same = [int(i) for i in by_task.get(rec["task_name"], []) if int(i) not in own]
        other = (
            np.flatnonzero(pdf["task_name"].to_numpy() != rec["task_name"])
            if cross_task
            else np.zeros(0, dtype=np.int64)
        )
        k_same = min(len(same), n_candidates - min(cross_task, len(other)))
        pick = list(rng.choice(same, size=k_same, replace=False)) if k_same else []
        if cross_task and len(other):
            pick += list(rng.choice(other, size=min(cross_task, len(other)), replace=False))
        ids, scores = [], []
        for i in pick:
            s = -1.0 + rng.normal(0, 0.5)
            if pdf["task_name"].iat[i] != rec["task_name"]:
                s += CROSS_TASK_PENALTY
            elif rec["task_name"] in labelled and pool.labels[i] != gold.strip():
                s += CROSS_TASK_PENALTY
            ids.append(pool.ids[i])
            scores.append(float(s))
        rows.append({**{k: rec[k] for k in EXAMPLE_FIELDS}, "doc_ids": ids, "doc_scores": scores})
    write_parquet(pd.DataFrame(rows), out)


def prepare_into(source: str, src, out, tasks=("t",), task_types=None) -> None:
    """``llmr.data.tasks.prepare`` of ``tasks`` from ``source`` files in ``src`` into the four
    tables under ``out`` (no held-out tasks, every example kept, seed 0)."""
    from llmr.core.schema import stage_defaults
    from llmr.data.tasks import prepare

    prepare(
        source=source,
        source_dir=str(src),
        tasks=list(tasks),
        held_out=[],
        out_train=str(Path(out) / "train.parquet"),
        out_test=str(Path(out) / "test.parquet"),
        out_passages=str(Path(out) / "passages.parquet"),
        out_tasks=str(Path(out) / "tasks.parquet"),
        **stage_defaults(prepare, "suite")
        | {
            "seed": 0,
            "max_train_per_task": None,
            "max_test_per_task": None,
            "test_fraction": 0.3,
            "task_types": task_types or {},
        },
    )
