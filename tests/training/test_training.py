"""The shared training loop's memory bounds: exact micro-batching and chunked forwards."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoModelForSequenceClassification

from llmr.core.schema import training_defaults
from llmr.training.loop import BoundedForward, micro_batching, train_config


@pytest.mark.parametrize(
    ("batch", "budget", "group", "length", "expected"),
    [
        (8, 16384, 8, 384, (4, 2)),  # 5 groups fit: 2 micro-batches of 4
        (32, 16384, 8, 384, (4, 8)),  # 5 fit, 7 micro-batches would give 28 groups: 8 of 4
        (31, 16384, 8, 384, (1, 31)),  # prime batch over the budget: one group each
        (16, 16384, 4, 256, (16, 1)),  # fits whole
        (6, 64, 8, 384, (1, 6)),  # budget below one group: one group per micro-batch
    ],
)
def test_micro_batching_is_exact_and_under_budget(batch, budget, group, length, expected):
    cfg = train_config(training_defaults("reward"), batch_size=batch, token_budget=budget)
    micro, accum = micro_batching(cfg, group, length)
    assert (micro, accum) == expected
    assert micro * accum == batch
    assert micro == 1 or micro * group * length <= budget


def test_micro_batching_respects_grad_accum_minimum():
    cfg = train_config(training_defaults("reward"), batch_size=12, grad_accum=5)
    micro, accum = micro_batching(cfg, 8, 16)
    assert (micro, accum) == (2, 6)  # 5 does not divide 12: the next divisor


def test_chunk_count():
    model = torch.nn.Identity()
    assert BoundedForward(model, None).chunks(40, 384) == 1
    assert BoundedForward(model, 40 * 384 * 384).chunks(40, 384) == 1
    assert BoundedForward(model, 2_000_000).chunks(40, 384) == 3  # 5.9M / 2M
    assert BoundedForward(model, 1).chunks(40, 384) == 40  # never below one row


def _batch(tok, n: int) -> dict[str, torch.Tensor]:
    texts = [" ".join(["word"] * (3 + 5 * i)) for i in range(n)]
    return dict(tok(texts, [f"passage {i}" for i in range(n)], padding=True, return_tensors="pt"))


@pytest.mark.parametrize("kind", ["cross-encoder", "bi-encoder"])
def test_chunked_forward_gives_the_same_outputs_and_gradients(tiny_encoder, kind):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    torch.manual_seed(0)
    if kind == "cross-encoder":
        model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=1)
    else:
        model = AutoModel.from_pretrained(tiny_encoder)
    model.eval()  # no dropout: chunked and whole forwards must agree exactly
    batch = _batch(tok, 7)
    n, length = batch["input_ids"].shape
    calls = []
    # the embeddings run in every forward and in every recomputation (the model's own
    # forward hook does not: the recomputation stops once it has what backward needs)
    model.base_model.embeddings.register_forward_hook(lambda *a: calls.append(1))

    def loss_and_grads(budget):
        model.zero_grad()
        out = BoundedForward(model, budget)(**batch)
        first = out.logits if kind == "cross-encoder" else out.last_hidden_state
        (first.float() ** 2).sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return type(out), first.detach(), grads

    cls_whole, whole, g_whole = loss_and_grads(None)
    assert len(calls) == 1
    calls.clear()
    cls_chunk, chunked, g_chunk = loss_and_grads(3 * length * length)  # 3 rows per chunk
    assert cls_chunk is cls_whole
    assert chunked.shape == whole.shape and chunked.shape[0] == n
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    assert len(g_chunk) == len(g_whole) > 0
    for a, b in zip(g_chunk, g_whole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # 3 chunks forward, each recomputed once in the backward pass
    assert len(calls) == 2 * BoundedForward(model, 3 * length * length).chunks(n, length) == 6


def test_no_chunking_without_grad(tiny_encoder):
    model = AutoModel.from_pretrained(tiny_encoder)
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    from transformers import AutoTokenizer

    batch = _batch(AutoTokenizer.from_pretrained(tiny_encoder), 5)
    with torch.no_grad():
        BoundedForward(model, 1)(**batch)
    assert len(calls) == 1  # evaluation never pays for checkpointing
