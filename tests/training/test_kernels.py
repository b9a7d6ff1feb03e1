"""llmr.training.kernels: the fast CPU dropout and attention compute what torch's kernels compute."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from llmr.bench.train import no_dropout
from llmr.training import kernels


class _Module(nn.Module):
    pass


def test_dropout_mask_rate_scale_and_seeding():
    torch.manual_seed(0)
    keep, scale = kernels.dropout_mask((1000, 1000), 0.1)
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    assert abs(keep.float().mean().item() - 0.9) < 2e-3
    assert scale == pytest.approx(65536 / (65536 - 6554))  # exact inverse of the keep rate
    torch.manual_seed(0)
    again, _ = kernels.dropout_mask((1000, 1000), 0.1)
    assert torch.equal(keep, again)  # seeded by torch's generator: resumable
    other, _ = kernels.dropout_mask((1000, 1000), 0.1)
    assert not torch.equal(keep, other)


def test_fast_dropout_expectation_and_identity():
    x = torch.ones(2000, 500)
    y = kernels.fast_dropout(x, 0.1, training=True)
    zeros = (y == 0).float().mean().item()
    assert abs(zeros - 0.1) < 2e-3
    assert abs(y.mean().item() - 1.0) < 5e-3  # inverted dropout keeps the expectation
    assert kernels.fast_dropout(x, 0.1, training=False) is x
    assert kernels.fast_dropout(x, 0.0, training=True) is x
    assert torch.count_nonzero(kernels.fast_dropout(x, 1.0)) == 0
    x.requires_grad_(True)
    y = kernels.fast_dropout(x, 0.5)
    y.sum().backward()
    assert torch.equal(x.grad, (y.detach() != 0).float() * 2.0)  # gradient through the mask


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float"])
@pytest.mark.parametrize("chunk", [1 << 20, 50])  # 50: one row per chunk
def test_chunked_attention_equals_sdpa(mask_kind, chunk, monkeypatch):
    monkeypatch.setattr(kernels, "ATTENTION_CHUNK", chunk)
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(3, 2, 5, 4, generator=g, requires_grad=True) for _ in range(3))
    keep = torch.ones(3, 1, 5, 5, dtype=torch.bool)
    keep[0, :, :, 3:] = False  # padding of the first row
    mask = {"none": None, "bool": keep,
            "float": torch.zeros(3, 1, 5, 5).masked_fill(~keep, torch.finfo(torch.float32).min)
            }[mask_kind]  # fmt: skip
    out, weights = kernels.chunked_attention(_Module(), q, k, v, mask, scaling=0.3)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3).transpose(1, 2)
    assert weights is None and out.shape == (3, 5, 2, 4)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    g1 = torch.autograd.grad(out.square().sum(), (q, k, v))
    g2 = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_chunked_attention_dropout_zeroes_probabilities():
    """Uniform attention (q = k = 0) over v = 1: without dropout every output is 1; with
    p = 0.5 it is (kept probabilities of 6) x 1/6 x 2, and the outputs vary."""
    torch.manual_seed(0)
    q, v = torch.zeros(4, 2, 6, 3), torch.ones(4, 2, 6, 3)
    out0, _ = kernels.chunked_attention(_Module(), q, q, v, None, dropout=0.0)
    torch.testing.assert_close(out0, torch.ones_like(out0))
    out, _ = kernels.chunked_attention(_Module(), q, q, v, None, dropout=0.5)
    allowed = torch.tensor([i / 3 for i in range(7)])
    assert torch.isclose(out.reshape(-1, 1), allowed).any(1).all()
    assert out.unique().numel() > 1


def _batch(tok, n: int = 4):
    texts = ["a short one", "a somewhat longer text with more words in it", "mid size text", "x"][
        :n
    ]
    return dict(tok(texts, ["second segment"] * n, padding=True, return_tensors="pt"))


@pytest.mark.parametrize("kind", ["encoder", "cross_encoder"])
def test_install_same_loss_and_gradients_without_dropout(tiny_encoder, kind):
    """The pipeline's models: the fast kernels give today's loss and gradients (dropout
    off), and ``restore`` switches the model back."""
    cls = AutoModel if kind == "encoder" else AutoModelForSequenceClassification
    torch.manual_seed(0)
    kw = {} if kind == "encoder" else {"num_labels": 1}
    model = no_dropout(cls.from_pretrained(tiny_encoder, **kw)).train()
    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    batch = _batch(tok)

    def loss_and_grads():
        model.zero_grad()
        out = model(**batch)
        y = out.last_hidden_state if kind == "encoder" else out.logits
        loss = (y.float() ** 2).mean()
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    ref_loss, ref_grads = loss_and_grads()
    before = model.config._attn_implementation
    restore = kernels.install(model)
    assert model.config._attn_implementation == kernels.ATTENTION_NAME
    assert all(type(m) is not nn.Dropout for m in model.modules())
    loss, grads = loss_and_grads()
    assert loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-6)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    restore()
    assert model.config._attn_implementation == before
    assert any(type(m) is nn.Dropout for m in model.modules())


def test_saved_model_does_not_name_the_kernels(tiny_encoder, tmp_path):
    model = AutoModel.from_pretrained(tiny_encoder)
    restore = kernels.install(model)
    restore()
    model.save_pretrained(tmp_path)
    assert kernels.ATTENTION_NAME not in json.dumps(
        json.loads((tmp_path / "config.json").read_text())
    )


@pytest.mark.parametrize("kind", ["encoder", "cross_encoder"])
def test_length_sorted_rows_same_outputs_and_gradients(tiny_encoder, kind, monkeypatch):
    """BoundedForward(sort_rows=True): rows run in length chunks cut to their own length;
    outputs (back in input order) and gradients equal one padded batch."""
    from llmr.models.encoder import pool
    from llmr.training.loop import BoundedForward

    monkeypatch.setattr(BoundedForward, "LENGTH_CHUNK_TOKENS", 4)
    cls = AutoModel if kind == "encoder" else AutoModelForSequenceClassification
    kw = {} if kind == "encoder" else {"num_labels": 1}
    torch.manual_seed(0)
    model = no_dropout(cls.from_pretrained(tiny_encoder, **kw)).train()
    batch = _batch(AutoTokenizer.from_pretrained(tiny_encoder))
    fwd = BoundedForward(model, None, sort_rows=True)
    assert len(fwd.length_order(batch["attention_mask"])) == 4

    def run(f):
        model.zero_grad()
        out = f(**batch)
        y = (
            pool(out.last_hidden_state, batch["attention_mask"])
            if kind == "encoder"
            else out.logits
        )
        (y.float() ** 2).sum().backward()
        return y.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    y_ref, g_ref = run(BoundedForward(model, None))
    y, g = run(fwd)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    left = {k: v.flip(1) for k, v in batch.items()}  # left padding: left as one batch
    assert fwd.length_order(left["attention_mask"]) is None


def test_length_sorted_rows_stay_under_the_attention_budget(tiny_encoder, monkeypatch):
    """The attention budget bounds the whole call, not each length chunk: when the chunks
    together hold more than the budget (though each alone fits), every chunk is
    checkpointed (a forward and a recomputation each), with the same gradients; under a
    budget that holds them all, nothing is recomputed."""
    from llmr.training.loop import BoundedForward

    monkeypatch.setattr(BoundedForward, "LENGTH_CHUNK_TOKENS", 4)
    torch.manual_seed(0)
    model = no_dropout(AutoModel.from_pretrained(tiny_encoder)).train()
    batch = _batch(AutoTokenizer.from_pretrained(tiny_encoder))
    mask = batch["attention_mask"]
    parts = BoundedForward(model, None, sort_rows=True).length_order(mask)
    sizes = [len(i) * int(mask[i].sum(1).max()) ** 2 for i in parts]
    calls = []
    model.embeddings.register_forward_hook(lambda *a: calls.append(1))

    def grads(budget):
        model.zero_grad()
        calls.clear()
        out = BoundedForward(model, budget, sort_rows=True)(**batch)
        (out.last_hidden_state.float() ** 2).sum().backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    g_held = grads(sum(sizes))  # everything fits: one forward per chunk, no recomputation
    assert len(calls) == len(parts)
    g_bound = grads(max(sizes))  # each chunk fits alone, all together do not
    assert len(calls) == 2 * len(parts)
    for a, b in zip(g_bound, g_held, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
