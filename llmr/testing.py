"""Tiny, randomly initialised models and a tiny task suite for tests and dry runs.

Nothing here touches the network: tokenizers are trained on the tiny corpus itself.
"""

from __future__ import annotations

import random
from pathlib import Path

from llmr.io import write_jsonl
from llmr.records import LETTERS, passage_contents

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
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator(_corpus(), trainer)
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
