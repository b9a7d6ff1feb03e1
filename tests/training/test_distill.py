"""Retriever distillation: KL + contrastive loss, tiny training (llmr.training.distill)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel

from llmr.core.io import read_json, read_parquet, write_parquet
from llmr.core.schema import training_defaults
from llmr.models.encoder import load_encoder
from llmr.training.distill import (
    DIAGNOSTICS,
    contrastive_loss,
    distill_loss,
    gather_with_grad,
    kl_group_loss,
    penalise_scores,
    standardize_scores,
    teacher_stats,
    train_retriever,
    transform_teacher,
)
from llmr.training.groups import PassagePool, load_scored

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
        contrastive_weight=w, kd_weight=1.0, teacher_temperature=1.0,
    )  # fmt: skip
    assert kl_t.item() == pytest.approx(kl, abs=1e-5)
    assert con_t.item() == pytest.approx(con, abs=1e-5)
    assert total.item() == pytest.approx(kl + w * con, abs=1e-5)
    assert contrastive_loss(torch.tensor(q), torch.tensor(p), T).item() == pytest.approx(con)
    # EPR: contrastive only; the KL is still returned (a diagnostic, without gradient)
    qt = torch.tensor(q, requires_grad=True)
    total, kl_t, _ = distill_loss(
        qt, torch.tensor(p), torch.tensor(teacher), temperature=T, contrastive_weight=1.0,
        kd_weight=0.0, teacher_temperature=1.0,
    )  # fmt: skip
    assert total.item() == pytest.approx(con, abs=1e-5)
    assert kl_t.item() == pytest.approx(kl, abs=1e-5) and not kl_t.requires_grad
    # teacher temperature 2: the KL target is softmax(teacher / 2)
    kl2 = 0.0
    for i in range(2):
        s = [_dot(q[i], p[i][g]) / T for g in range(2)]
        t2 = [t / 2 for t in teacher[i]]
        lt = [t - _lse(t2) for t in t2]
        ls = [x - _lse(s) for x in s]
        kl2 += sum(math.exp(a) * (a - b) for a, b in zip(lt, ls, strict=True)) / 2
    _, kl_t2, _ = distill_loss(
        torch.tensor(q),
        torch.tensor(p),
        torch.tensor(teacher),
        temperature=T,
        contrastive_weight=w,
        kd_weight=1.0,
        teacher_temperature=2.0,
    )
    assert kl_t2.item() == pytest.approx(kl2, abs=1e-5) and abs(kl2 - kl) > 1e-3
    assert kl_group_loss(
        torch.tensor([[0.0, 0.0]]), torch.tensor([[4.0, 0.0]]), 2.0
    ).item() == pytest.approx(
        kl_group_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), 1.0).item()
    )


def test_teacher_stats_hand_computed():
    # group 1: softmax([ln 3, 0]) = [3/4, 1/4]; group 2: uniform over 2
    teacher = torch.tensor([[math.log(3.0), 0.0], [5.0, 5.0]])
    max_prob, entropy = teacher_stats(teacher, 1.0)
    h1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert max_prob.item() == pytest.approx((0.75 + 0.5) / 2, abs=1e-6)
    assert entropy.item() == pytest.approx((h1 + math.log(2)) / 2, abs=1e-6)
    # temperature 2 on [2 ln 3, 0] gives the same distribution as [ln 3, 0]
    mp2, _ = teacher_stats(torch.tensor([[2 * math.log(3.0), 0.0]]), 2.0)
    assert mp2.item() == pytest.approx(0.75, abs=1e-6)


def test_standardize_scores_per_query_keeps_penalties():
    out = standardize_scores([1.0, 2.0, 3.0, -100.0, -101.5])
    sd = math.sqrt(2 / 3)
    assert out == pytest.approx([-1 / sd, 0.0, 1 / sd, -100.0, -101.5])
    assert standardize_scores([2.0, 2.0]) == [0.0, 0.0]
    assert standardize_scores([-100.0]) == [-100.0]


def test_gather_without_process_group_is_identity():
    x = torch.randn(3, 4)
    g, off = gather_with_grad(x)
    assert g is x and off == 0


_GATHER_WORKER = """
import sys, torch, torch.distributed as dist
from llmr.training.distill import contrastive_loss
rank, init, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
g = torch.Generator().manual_seed(0)
q_all = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1)
p_all = torch.nn.functional.normalize(torch.randn(4, 3, 8, generator=g), dim=-1)
q = q_all[2 * rank : 2 * rank + 2].clone().requires_grad_(True)
p = p_all[2 * rank : 2 * rank + 2].clone().requires_grad_(True)
loss = contrastive_loss(q, p, 0.1)
loss.backward()
torch.save({"loss": loss.detach(), "q": q.grad, "p": p.grad}, out)
dist.destroy_process_group()
"""


def test_gathered_gradient_is_all_reduced_on_two_processes(tmp_path):
    """2 gloo processes on CPU, 2 queries each: each process's gradient of its gathered
    embeddings is the sum over both processes' losses (the reference's all-reduce), i.e.
    2 x the gradient of the single-process loss over all 4 queries."""
    script = tmp_path / "worker.py"
    script.write_text(_GATHER_WORKER)
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [
        subprocess.Popen([sys.executable, str(script), str(r), init, str(tmp_path / f"{r}.pt")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in (0, 1)
    ]  # fmt: skip
    for pr in procs:
        out, _ = pr.communicate(timeout=240)
        assert pr.returncode == 0, out[-3000:]
    res = [torch.load(tmp_path / f"{r}.pt") for r in (0, 1)]
    g = torch.Generator().manual_seed(0)
    q_all = F.normalize(torch.randn(4, 8, generator=g), dim=-1).requires_grad_(True)
    p_all = F.normalize(torch.randn(4, 3, 8, generator=g), dim=-1).requires_grad_(True)
    full = contrastive_loss(q_all, p_all, 0.1)  # mean over the 4 queries
    full.backward()
    assert (res[0]["loss"] + res[1]["loss"]).item() == pytest.approx(2 * full.item(), abs=1e-5)
    for r in (0, 1):
        rows = slice(2 * r, 2 * r + 2)
        torch.testing.assert_close(res[r]["q"], 2 * q_all.grad[rows], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(res[r]["p"], 2 * p_all.grad[rows], atol=1e-5, rtol=1e-4)
    # the local-only gradient (before) misses the other process's loss: it differs
    ql = q_all.detach()[:2].clone().requires_grad_(True)
    local = contrastive_loss(ql, p_all.detach()[:2], 0.1)  # rank 0's rows, no gathering
    local.backward()
    assert not torch.allclose(ql.grad, res[0]["q"], atol=1e-4)


@pytest.fixture(scope="module")
def scored(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("scores") / "round0.parquet")
    synthetic_scores(tiny_data["train"], tiny_data["passages"], tiny_data["tasks"], out)
    return out


def test_train_retriever_tiny(tiny_data, tiny_encoder, scored, tmp_path):
    # LLM scores as teacher = the EPR ablation; reward-model teachers have the same format
    train_retriever(
        [scored], tiny_data["passages"], tiny_data["tasks"], tiny_encoder,
        str(tmp_path / "ret"), str(tmp_path / "ret.json"), **training_defaults("retriever")
        | dict(max_length=48, steps=3, batch_size=4, lr=1e-3, save_steps=2),
    )  # fmt: skip
    m = read_json(tmp_path / "ret.json")
    for key in ("loss_curve", "train_mrr", "train_acc1", "heldback_mrr", "heldback_acc1",
                "time_s", "steps"):  # fmt: skip
        assert key in m
    assert m["steps"] == 3 and all(math.isfinite(v) for _, v in m["loss_curve"])
    assert 0 < m["train_mrr"] <= 1 and m["group_size"] == 4
    # per-run means of the loss diagnostics: KL and contrastive terms, teacher sharpness
    d = m["diagnostics"]
    assert set(DIAGNOSTICS) <= set(d) and all(math.isfinite(d[k]) for k in DIAGNOSTICS)
    assert 1 / 4 <= d["teacher_max_prob"] <= 1 and 0 <= d["teacher_entropy"] <= math.log(4)
    assert d["kl"] >= 0 and d["contrastive"] > 0
    model, _ = load_encoder(str(tmp_path / "ret"), device="cpu")
    init = AutoModel.from_pretrained(tiny_encoder)
    pe = "embeddings.position_embeddings.weight"
    torch.testing.assert_close(model.state_dict()[pe], init.state_dict()[pe])  # frozen
    we = "embeddings.word_embeddings.weight"
    assert not torch.equal(model.state_dict()[we], init.state_dict()[we])  # trained
    assert not (tmp_path / "ret.ckpt").exists()


def _pool(tasks, labels):
    ids = [f"p{i}" for i in range(len(tasks))]
    contents = [f"x{i}\n{lab}" for i, lab in enumerate(labels)]
    return PassagePool(
        ids, contents, list(labels), list(tasks), {d: i for i, d in enumerate(ids)}, {}
    )


def test_penalise_scores_applies_the_llm_scorers_rule():
    pool = _pool(["t", "t", "u", "t"], ["yes", "no", "yes", "yes"])
    rec = {
        "query_id": "q",
        "task_name": "t",
        "answers": ["yes"],
        "options": [],
        "doc_ids": ["p0", "p1", "p2", "p3"],
        "doc_scores": [1.0, 2.0, 3.0, 4.0],
    }
    # p1: same task, other label; p2: other task
    assert penalise_scores(rec, pool, True, "q") == [1.0, -100.0, -100.0, 4.0]
    # not classification: only the other-task penalty
    assert penalise_scores(rec, pool, False, "q") == [1.0, 2.0, -100.0, 4.0]


def test_teacher_penalty_reproduces_the_llm_penalties_and_the_filter(tiny_data, scored, tmp_path):
    """Unpenalised teacher scores + ``teacher_penalty`` -> -100 exactly where the (synthetic)
    LLM scorer penalised, and the reference's 3rd-best filter then drops queries."""
    s = read_parquet(scored)
    # one held-in query keeps 2 unpenalised candidates and every penalised one: its 3rd best
    # is penalised (synthetic LLM penalty: -100 + (-1 + N(0, 0.5)))
    held_out = set(read_parquet(tiny_data["tasks"]).query("held_out")["task_name"])
    i = next(
        i
        for i, (t, sc) in enumerate(zip(s["task_name"], s["doc_scores"], strict=True))
        if t not in held_out and sum(x < -50 for x in sc) >= 2
    )
    keep = [j for j, x in enumerate(s["doc_scores"].iat[i]) if x < -50]
    keep += [j for j, x in enumerate(s["doc_scores"].iat[i]) if x >= -50][:2]
    s.at[i, "doc_ids"] = [s["doc_ids"].iat[i][j] for j in keep]
    s.at[i, "doc_scores"] = [s["doc_scores"].iat[i][j] for j in keep]
    raw = s.copy()
    raw["doc_scores"] = [[float(x) % 1.0 for x in sc] for sc in s["doc_scores"]]
    path = tmp_path / "teacher.parquet"
    write_parquet(pd.DataFrame(raw), path)
    files = [str(path)]
    pool_and_tasks = (tiny_data["passages"], tiny_data["tasks"])
    assert transform_teacher(files, *pool_and_tasks, penalty=False, standardize=False) == files
    (pen,) = transform_teacher(files, *pool_and_tasks, penalty=True, standardize=False)
    for orig, new in zip(s["doc_scores"], pen["doc_scores"], strict=True):
        np.testing.assert_array_equal(np.asarray(new) == -100.0, np.asarray(orig) < -50.0)
    llm = s.copy()
    llm["doc_scores"] = [[-100.0 if x < -50 else 0.0 for x in sc] for sc in s["doc_scores"]]
    pool = PassagePool.load(tiny_data["passages"])
    _, before = load_scored(files, pool, tiny_data["tasks"], 0.0)
    _, after = load_scored([pen], pool, tiny_data["tasks"], 0.0)
    _, expected = load_scored([llm], pool, tiny_data["tasks"], 0.0)
    assert "third_best_penalised" not in before
    assert after["third_best_penalised"] == expected["third_best_penalised"] >= 1
    (std,) = transform_teacher([pen], *pool_and_tasks, penalty=False, standardize=True)
    for sc in std["doc_scores"]:
        live = np.asarray([x for x in sc if x > -100])
        if len(live) > 1 and live.std() > 0:
            assert abs(live.mean()) < 1e-9 and live.std() == pytest.approx(1.0)
