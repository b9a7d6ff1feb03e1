"""Retriever distillation: KL + contrastive loss, tiny training (llmr.distill)."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModel

from llmr.distill import (
    contrastive_loss,
    distill_loss,
    gather_with_grad,
    train_retriever,
)
from llmr.encoder import load_encoder
from llmr.io import read_json

from helpers.tiny import synthetic_scores


def _lse(xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_kl_plus_contrastive_on_hand_toy():
    T, w = 0.5, 0.2
    q = [[1.0, 0.0], [0.0, 1.0]]
    p = [[[0.6, 0.8], [1.0, 0.0]], [[0.0, 1.0], [0.6, 0.8]]]  # (B=2, G=2, H=2), positive first
    teacher = [[2.0, 0.0], [1.0, 1.0]]
    # KL(teacher || student) per query, averaged
    kl = 0.0
    for i in range(2):
        s = [_dot(q[i], p[i][g]) / T for g in range(2)]
        lt = [t - _lse(teacher[i]) for t in teacher[i]]
        ls = [x - _lse(s) for x in s]
        kl += sum(math.exp(a) * (a - b) for a, b in zip(lt, ls, strict=True)) / 2
    # contrastive (the reference's formulation): one row per query over every passage of
    # the batch, then positive->query, query->query, positive->positive (own items masked);
    # the target is the query's own positive
    pos = [p[0][0], p[1][0]]
    allp = [p[i][g] for i in range(2) for g in range(2)]
    con = 0.0
    for i in range(2):
        row = [_dot(q[i], x) / T for x in allp]
        row += [_dot(pos[i], q[j]) / T for j in range(2) if j != i]
        row += [_dot(q[i], q[j]) / T for j in range(2) if j != i]
        row += [_dot(pos[i], pos[j]) / T for j in range(2) if j != i]
        con += (_lse(row) - row[2 * i]) / 2
    total, kl_t, con_t = distill_loss(
        torch.tensor(q), torch.tensor(p), torch.tensor(teacher), temperature=T,
        contrastive_weight=w,
    )  # fmt: skip
    assert kl_t.item() == pytest.approx(kl, abs=1e-5)
    assert con_t.item() == pytest.approx(con, abs=1e-5)
    assert total.item() == pytest.approx(kl + w * con, abs=1e-5)
    assert contrastive_loss(torch.tensor(q), torch.tensor(p), T).item() == pytest.approx(con)
    # EPR: contrastive only
    total, kl_t, _ = distill_loss(torch.tensor(q), torch.tensor(p), torch.tensor(teacher), T,
                                  contrastive_weight=1.0, kd_weight=0.0)
    assert total.item() == pytest.approx(con, abs=1e-5) and kl_t.item() == 0.0


def test_gather_without_process_group_is_identity():
    x = torch.randn(3, 4)
    g, off = gather_with_grad(x)
    assert g is x and off == 0


@pytest.fixture(scope="module")
def scored(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("scores") / "round0.parquet")
    synthetic_scores(tiny_data["train"], tiny_data["passages"], tiny_data["tasks"], out)
    return out


def test_train_retriever_tiny(tiny_data, tiny_encoder, scored, tmp_path):
    # LLM scores as teacher = the EPR ablation; reward-model teachers have the same format
    train_retriever(
        [scored], tiny_data["passages"], tiny_data["tasks"], tiny_encoder,
        str(tmp_path / "ret"), str(tmp_path / "ret.json"), max_length=48, steps=3,
        batch_size=4, lr=1e-3, save_steps=2,
    )  # fmt: skip
    m = read_json(tmp_path / "ret.json")
    for key in ("loss_curve", "train_mrr", "train_acc1", "heldback_mrr", "heldback_acc1",
                "time_s", "steps"):  # fmt: skip
        assert key in m
    assert m["steps"] == 3 and all(math.isfinite(v) for _, v in m["loss_curve"])
    assert 0 < m["train_mrr"] <= 1 and m["group_size"] == 4
    model, _ = load_encoder(str(tmp_path / "ret"), device="cpu")
    init = AutoModel.from_pretrained(tiny_encoder)
    pe = "embeddings.position_embeddings.weight"
    torch.testing.assert_close(model.state_dict()[pe], init.state_dict()[pe])  # frozen
    we = "embeddings.word_embeddings.weight"
    assert not torch.equal(model.state_dict()[we], init.state_dict()[we])  # trained
    assert not (tmp_path / "ret.ckpt").exists()
