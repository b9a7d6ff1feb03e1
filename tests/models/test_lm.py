"""llmr.models.lm against naive full-logits computations on the tiny random causal LM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmr.core import device
from llmr.models import lm


@pytest.fixture(scope="module")
def fp32_lm(tiny_lm, monkeypatch_module):
    monkeypatch_module.setenv("LLMR_CPU_BF16", "0")
    device.cpu_has_native_bf16.cache_clear()
    return lm.load_causal_lm(tiny_lm, device="cpu")


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
    device.cpu_has_native_bf16.cache_clear()


def naive_score(model, tok, context: str, cont: str, max_length: int) -> float:
    """Full logits at every position, then gather (the obvious reference)."""
    ctx = lm.encode_contexts(tok, [context])[0]
    c = lm.encode_continuations(tok, [cont])[0]
    ids = (ctx + c)[-max_length:]
    n = min(len(c), len(ids) - 1)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    logp = torch.log_softmax(logits, -1)
    L = len(ids)
    return float(np.mean([logp[p - 1, ids[p]].item() for p in range(L - n, L)]))


CTX = [
    "The apple was great today.\ngood\n\nThe river was awful today.\n",
    "Which is the tiger?\n",
    "",
    "Repeat: the player scored\nplayer scored\n\n" * 5 + "Repeat: the goalie kicked\n",
]
CONT = ["good", "tiger", "stone river", "goalie kicked"]


@pytest.mark.parametrize("max_length", [1024, 24, 6, 3])
def test_score_continuations_matches_naive(fp32_lm, max_length):
    model, tok = fp32_lm
    got = lm.score_continuations(
        model, tok, CTX, CONT, max_length=max_length, token_budget=64, progress=False
    )
    ref = [naive_score(model, tok, a, b, max_length) for a, b in zip(CTX, CONT, strict=True)]
    assert got.dtype == np.float32 and got.shape == (4,)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_continuation_tokens_are_exactly_the_continuation(fp32_lm):
    _, tok = fp32_lm
    ids = lm.encode_continuations(tok, ["good"])[0]
    assert tok.decode(ids) == "good"


def test_empty_continuation_names_index(fp32_lm):
    model, tok = fp32_lm
    with pytest.raises(ValueError, match="continuation 1"):
        lm.score_continuations(model, tok, ["a", "b"], ["x", ""], progress=False)


def test_score_options_equals_per_option(fp32_lm):
    model, tok = fp32_lm
    prompts = ["Which is the tiger?\n", "The apple was nice today.\n", "Repeat: the runner\n"]
    options = [["apple", "tiger", "violin pepper"], ["good"], ["bad", "good", "runner threw"]]
    got = lm.score_options(model, tok, prompts, options, token_budget=32)
    for p, opts, g in zip(prompts, options, got, strict=True):
        ref = lm.score_continuations(model, tok, [p] * len(opts), opts, progress=False)
        assert g.shape == (len(opts),)
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-4)


def test_constrained_decode_returns_labels(fp32_lm):
    model, tok = fp32_lm
    labels = ["good", "good bad", "stone river anchor", "A"]
    prompts = [
        "The apple was great today.\n",
        "Which is the tiger?\n",
        "x\n",
        "",
        "Repeat: the skater served\n",
    ] * 2
    got = lm.constrained_decode(model, tok, prompts, labels, token_budget=40)
    assert all(g in labels for g in got)
    # every label is reachable, incl. "good", a prefix of "good bad": a head that prefers
    # the target's next token at each step must lead to it


def test_constrained_decode_every_label_reachable(fp32_lm, monkeypatch):
    model, tok = fp32_lm
    labels = ["good", "good bad", "stone river anchor", "A"]
    for target in labels:
        seq = lm.encode_continuations(tok, [target + "\n"])[0]

        def head(model, h, seq=seq):  # every position prefers the target's earlier tokens
            logits = torch.zeros(h.shape[0], len(tok))
            for d, t in reversed(list(enumerate(seq))):
                logits[:, t] = 10.0 - d
            return logits

        monkeypatch.setattr(lm, "_head_logits", head)
        assert lm.constrained_decode(model, tok, ["Which is the tiger?\n"], labels) == [target]


def test_constrained_decode_matches_naive_argmax(fp32_lm):
    model, tok = fp32_lm
    labels = ["good", "bad", "good bad"]
    prompts = ["The apple was great today.\n", "Which is the tiger?\n"]
    got = lm.constrained_decode(model, tok, prompts, labels)
    seqs = lm.encode_continuations(tok, [lab + "\n" for lab in labels])
    for p, g in zip(prompts, got, strict=True):
        ids = lm.encode_contexts(tok, [p])[0]
        allowed = seqs
        step = 0
        while True:
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, -1]
            cands = sorted({s[step] for s in allowed})
            t = max(cands, key=lambda c: logits[c].item())
            allowed = [s for s in allowed if s[step] == t]
            ids.append(t)
            step += 1
            done = [s for s in allowed if len(s) == step]
            if done:
                assert labels[seqs.index(done[0])] == g
                break


def naive_generate(model, tok, prompt: str, max_new: int) -> str:
    """One row, full recompute per step: no newline-led token first, stop at a newline."""
    _, lead = lm.newline_tokens(tok)
    ids = lm.encode_contexts(tok, [prompt])[0]
    gen: list[int] = []
    for step in range(max_new):
        with torch.no_grad():
            logits = model(torch.tensor([ids + gen])).logits[0, -1].clone()
        if step == 0:
            logits[lead] = -float("inf")
        t = int(logits.argmax())
        if t == tok.eos_token_id:
            break
        gen.append(t)
        if "\n" in tok.decode(gen):
            break
    return tok.decode(gen).split("\n")[0].strip()


GEN_PROMPTS = [
    "Repeat: the player scored\n",
    "Which is the tiger?\n",
    "The apple was",
    "Repeat: the player scored\nplayer scored\n\n" * 3 + "Repeat: the goal\n",
]


def test_greedy_generate_matches_naive_and_stops_at_newline(fp32_lm):
    model, tok = fp32_lm
    got = lm.greedy_generate(model, tok, GEN_PROMPTS, max_new_tokens=12, token_budget=40)
    for p, g in zip(GEN_PROMPTS, got, strict=True):
        assert g == naive_generate(model, tok, p, 12)
        assert "\n" not in g


def test_greedy_generate_skips_a_leading_newline(fp32_lm):
    """A model that always prefers a newline still answers: not at the first step."""
    model, tok = fp32_lm
    nl = lm.encode_continuations(tok, ["\n"])[0][0]
    head = model.get_output_embeddings()
    old = head.bias
    bias = torch.zeros(len(tok))
    bias[nl] = 1000.0
    head.bias = torch.nn.Parameter(bias)
    try:
        got = lm.greedy_generate(model, tok, GEN_PROMPTS[:3], max_new_tokens=8)
        want = [naive_generate(model, tok, p, 8) for p in GEN_PROMPTS[:3]]
    finally:
        head.bias = old
    assert got == want
    assert all(g for g in got)  # one token, then the newline: never an empty answer


def test_every_decoding_path_matches_generate_and_naive_scoring(fp32_lm):
    """The fast paths against the reference-style loop (``model.generate`` per batch with a
    prefix trie / begin-suppressed newline, each option as its own sequence)."""
    from llmr.bench import evaluate as bench_eval

    model, tok = fp32_lm
    prompts = CTX[:2] + GEN_PROMPTS
    labels = ["good", "bad", "good bad", "stone river anchor"]
    assert lm.constrained_decode(model, tok, prompts, labels, token_budget=64) == (
        bench_eval.reference_constrained(model, tok, prompts, labels, batch_size=3)
    )
    assert lm.greedy_generate(model, tok, prompts, max_new_tokens=10, token_budget=64) == (
        bench_eval.reference_generate(model, tok, prompts, max_new_tokens=10, batch_size=3)
    )
    options = [
        ["good", "bad"],
        ["tiger", "stone river", "A"],
        ["x"],
        ["player scored", "goal"],
        ["an apple", "pear"],
        ["goal", "the goal kicked"],
    ]
    got = lm.score_options(model, tok, prompts, options, token_budget=64)
    ref = bench_eval.reference_options(model, tok, prompts, options, batch_size=3)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
    short = lm.score_options(model, tok, prompts, options, max_length=8)
    ref = bench_eval.reference_options(model, tok, prompts, options, max_length=8)
    for g, r in zip(short, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


def test_load_errors(tmp_path, tiny_encoder):
    with pytest.raises(FileNotFoundError):
        lm.load_causal_lm(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="causal-LM head"):
        lm.load_causal_lm(tiny_encoder, device="cpu")


def test_load_sets_pad_and_eval(tiny_lm):
    model, tok = lm.load_causal_lm(tiny_lm, device="cpu")
    assert tok.pad_token is not None and not model.training


def test_bf16_weights_close_to_fp32(fp32_lm, tiny_lm):
    model, tok = fp32_lm
    m16, _ = lm.load_causal_lm(tiny_lm, device="cpu", dtype="bfloat16")
    ref = lm.score_continuations(model, tok, CTX, CONT, progress=False)
    got = lm.score_continuations(m16, tok, CTX, CONT, progress=False)
    np.testing.assert_allclose(got, ref, atol=0.05)
    opts = lm.score_options(m16, tok, CTX[:2], [["good", "bad"], ["tiger"]])
    assert [o.shape for o in opts] == [(2,), (1,)]


def test_packed_paths_with_eager_attention(tiny_lm, monkeypatch):
    """The additive-float mask (non-SDPA attention) gives the same options and labels."""
    from llmr.bench import evaluate as bench_eval

    monkeypatch.setenv("LLMR_CPU_BF16", "0")
    device.cpu_has_native_bf16.cache_clear()
    model, tok = lm.load_causal_lm(tiny_lm, device="cpu")
    model.set_attn_implementation("eager")
    assert model.config._attn_implementation == "eager"
    prompts, options = CTX[:2], [["good", "bad"], ["tiger", "stone river"]]
    got = lm.score_options(model, tok, prompts, options)
    ref = bench_eval.reference_options(model, tok, prompts, options)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
    labels = ["good", "bad", "good bad"]
    assert lm.constrained_decode(model, tok, prompts, labels) == (
        bench_eval.reference_constrained(model, tok, prompts, labels)
    )
    device.cpu_has_native_bf16.cache_clear()
