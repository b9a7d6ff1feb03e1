"""llmr.models.cross_encoder's pair tokenisation against the tokenizer's own pair call."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import pytest
from transformers import AutoTokenizer

from llmr.models.cross_encoder import longest_first, pad_rows, pair_layout, tokenize_pairs
from llmr.training.reward import NoTokenTypes

WORDS = "the cat sat on a mat while seven quiet dogs watched every bird fly".split()


def text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


class WithTokenTypes(NoTokenTypes):
    """A tokenizer that always returns ``token_type_ids``."""

    def __call__(self, *args, **kw):
        return self.tokenizer(*args, **kw, return_token_type_ids=True)


@pytest.fixture(scope="module")
def tok(tiny_encoder):
    return AutoTokenizer.from_pretrained(tiny_encoder)


@pytest.mark.parametrize(
    ("n1", "n2", "kept"),
    [
        # budget 7, worked by hand: nothing to cut; only the longer cut to fill the rest;
        # both over half -> 3 and 4, the longer (the second on a tie) taking the odd token
        (0, 0, (0, 0)),
        (0, 8, (0, 7)),
        (2, 4, (2, 4)),
        (2, 8, (2, 5)),
        (8, 2, (5, 2)),
        (4, 4, (3, 4)),
        (4, 8, (3, 4)),
        (8, 4, (4, 3)),
        (8, 8, (3, 4)),
        (9, 30, (3, 4)),
    ],
)
def test_longest_first_by_hand(n1, n2, kept):
    assert longest_first(n1, n2, 7) == kept


def test_pairs_equal_the_tokenizers_own_truncation(tok):
    """Pairs of 0 to 80 words on either side at max_length 24: the same ids and token
    types as tokenizer(firsts, seconds, truncation="longest_first"), also without token
    types (the reward model's tokenizer), with them, and after padding."""
    rng = random.Random(0)
    max_length = 24
    lengths = [0, 1, 5, 10, 11, 12, 13, 21, 22, 40, 70]
    pairs = [(text(rng, a), text(rng, b)) for a in lengths for b in lengths]
    pairs += [(text(rng, rng.randint(0, 80)), text(rng, rng.randint(0, 80))) for _ in range(200)]
    firsts, seconds = [p[0] for p in pairs], [p[1] for p in pairs]
    for t in (tok, NoTokenTypes(tok), WithTokenTypes(tok)):
        ref = t(firsts, seconds, truncation="longest_first", max_length=max_length)
        got = tokenize_pairs(t, firsts, seconds, max_length)
        assert set(got) == {"input_ids", "token_type_ids"} & set(ref)
        for key, rows in got.items():
            assert rows == [list(r) for r in ref[key]], key
    assert "token_type_ids" in got
    assert {len(r) for r in got["input_ids"]} >= {max_length}  # truncation did happen
    padded = tok(firsts[:40], seconds[:40], truncation="longest_first", max_length=max_length,
                 padding=True, return_tensors="pt")  # fmt: skip
    mine = pad_rows(tok, got["input_ids"][:40])
    for key in ("input_ids", "attention_mask"):
        assert mine[key].equal(padded[key]), key


def test_layout_is_read_off_the_tokenizer(tok):
    """[CLS] first [SEP] second [SEP], with token types 0 then 1 (a BERT tokenizer)."""
    layout = pair_layout(WithTokenTypes(tok))
    assert layout is not None
    assert layout.prefix == (tok.cls_token_id,)
    assert layout.middle == layout.suffix == (tok.sep_token_id,)
    assert layout.types == ((0,), 0, (0,), 1, (1,))
    assert pair_layout(NoTokenTypes(tok)).types is None


def test_long_pairs_cost_no_more_than_their_tokens(tiny_encoder):
    """64 pairs of two ~3,000-word texts truncated to 64 tokens: the tokenizer's own pair
    truncation keeps every overflowing window of both texts and pairs them (gigabytes);
    tokenize_pairs stays near the size of the tokens themselves (measured in a fresh
    process, peak RSS minus the RSS after loading)."""
    code = textwrap.dedent(
        f"""
        import random, resource
        from transformers import AutoTokenizer
        from llmr.models.cross_encoder import tokenize_pairs
        tok = AutoTokenizer.from_pretrained({tiny_encoder!r})
        rng = random.Random(0)
        words = {WORDS!r}
        texts = [" ".join(rng.choice(words) for _ in range(3000)) for _ in range(128)]
        tokenize_pairs(tok, ["a"], ["b"], 64)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # a regression fails here on its own, not by the machine's OOM killer
        vm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmSize"))
        resource.setrlimit(resource.RLIMIT_AS, ((vm << 10) + (2 << 30), resource.RLIM_INFINITY))
        enc = tokenize_pairs(tok, texts[:64], texts[64:], 64)
        assert all(len(r) == 64 for r in enc["input_ids"])
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) < 300, f"{out.stdout.split()[-1]} MB above the baseline"
