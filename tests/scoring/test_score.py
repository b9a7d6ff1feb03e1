"""LLM-score stage on the tiny suite with the tiny random causal LM (fp32)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from llmr.core import device
from llmr.core.io import RecordError, read_parquet, write_parquet
from llmr.core.records import CROSS_TASK_PENALTY, gold_text, passage_label
from llmr.core.schema import stage_defaults
from llmr.models import lm
from llmr.scoring import score


@pytest.fixture(autouse=True)
def fp32(monkeypatch):
    monkeypatch.setenv("LLMR_CPU_BF16", "0")
    device.cpu_has_native_bf16.cache_clear()
    yield
    device.cpu_has_native_bf16.cache_clear()


@pytest.fixture(scope="module")
def cands(tiny_data, tmp_path_factory):
    """Candidates: for each training query 10 passages (mixed tasks, own one excluded)."""
    train = read_parquet(tiny_data["train"])
    pool = list(read_parquet(tiny_data["passages"])["id"])
    rng = np.random.default_rng(0)
    docs = []
    for _ in range(len(train)):
        docs.append([pool[i] for i in rng.choice(len(pool), 10, replace=False)])
    train["doc_ids"] = docs
    train["doc_scores"] = [list(np.linspace(1, 0, 10)) for _ in docs]
    path = str(tmp_path_factory.mktemp("cands") / "round0.parquet")
    write_parquet(train, path)
    return path


def run(tiny_data, tiny_lm, cands, out, **kw):
    score.score_shard(
        candidates=cands,
        passages=tiny_data["passages"],
        tasks=tiny_data["tasks"],
        model=tiny_lm,
        out=str(out),
        **stage_defaults(score.score_shard, "score", "precision") | kw,
    )
    return read_parquet(str(out))


def count_scored(monkeypatch, real):
    """Patch ``lm.score_continuations`` with a wrapper of ``real`` that records how many
    pairs each call scores; returns that (growing) list."""
    n_scored = []

    def counting(model, tok, contexts, conts, **k):
        n_scored.append(len(contexts))
        return real(model, tok, contexts, conts, **k)

    monkeypatch.setattr(lm, "score_continuations", counting)
    return n_scored


def test_scores_and_penalties(tiny_data, tiny_lm, cands, tmp_path):
    df = run(tiny_data, tiny_lm, cands, tmp_path / "s.parquet", n_candidates=4)
    assert list(df.columns) == list(score.OUT_COLUMNS)
    assert "gen_echo" not in set(df["task_name"])  # held out
    assert list(df["query_id"]) == sorted(df["query_id"])
    assert all(len(d) == 4 for d in df["doc_ids"])
    pool = read_parquet(tiny_data["passages"]).set_index("id")
    model, tok = lm.load_causal_lm(tiny_lm, device="cpu")
    ctx, ys, pens, got = [], [], [], []
    for r in df.itertuples():
        y = gold_text(r.answers, r.options)
        for d, s in zip(r.doc_ids, r.doc_scores, strict=True):
            c = pool.at[d, "contents"]
            other = pool.at[d, "task_name"] != r.task_name
            # one -100 at most: another task, or a same-task candidate with another label
            pen = CROSS_TASK_PENALTY * (
                other or (r.task_name == "cls_sent" and passage_label(c) != y)
            )
            ctx.append(f"{c}\n\n{r.query}\n")
            ys.append(y)
            pens.append(pen)
            got.append(s)
    raw = lm.score_continuations(model, tok, ctx, ys, progress=False)
    np.testing.assert_allclose(np.array(got) - np.array(pens), raw, atol=1e-4)
    assert min(pens) == CROSS_TASK_PENALTY and 0.0 in pens  # never -200
    cls = [p for p, c in zip(pens, ctx, strict=True) if "was" in c.rsplit("\n\n", 1)[1]]
    assert CROSS_TASK_PENALTY in cls  # same task, label mismatch
    ident = score.read_identity(str(tmp_path / "s.parquet"))
    assert ident["max_length"] == 1024 and ident["fingerprint"] and ident["prompt"]


def test_shards_union_equals_single_run(tiny_data, tiny_lm, cands, tmp_path):
    single = run(tiny_data, tiny_lm, cands, tmp_path / "all.parquet", n_candidates=3)
    again = run(tiny_data, tiny_lm, cands, tmp_path / "again.parquet", n_candidates=3)
    pd.testing.assert_frame_equal(single, again)
    shards = []
    for k in range(3):
        p = tmp_path / f"shard{k}.parquet"
        run(tiny_data, tiny_lm, cands, p, shard=k, n_shards=3, n_candidates=3)
        shards.append(str(p))
    score.gather(shards, str(tmp_path / "gathered.parquet"))
    gathered = read_parquet(str(tmp_path / "gathered.parquet"))
    assert list(gathered["query_id"]) == list(single["query_id"])
    assert list(gathered["doc_ids"]) == list(single["doc_ids"])
    np.testing.assert_allclose(
        np.concatenate(gathered["doc_scores"]), np.concatenate(single["doc_scores"]), atol=1e-4
    )
    with pytest.raises(RecordError, match="more than one shard"):
        score.gather([shards[0], shards[0]], str(tmp_path / "dup.parquet"))


def test_resume_after_kill(tiny_data, tiny_lm, cands, tmp_path, monkeypatch, caplog):
    ref = run(tiny_data, tiny_lm, cands, tmp_path / "ref.parquet", n_candidates=3, chunk_size=20)
    real = lm.score_continuations
    calls = []

    def dies_after_one(*a, **k):
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(lm, "score_continuations", dies_after_one)
    out = tmp_path / "res.parquet"
    with pytest.raises(KeyboardInterrupt):
        run(tiny_data, tiny_lm, cands, out, n_candidates=3, chunk_size=20)
    assert not out.exists()
    assert len(list((tmp_path / "res.parquet.partial").glob("chunk-*.parquet"))) == 1
    n_scored = count_scored(monkeypatch, real)
    with caplog.at_level(logging.INFO, logger="llmr.scoring.score"):
        res = run(tiny_data, tiny_lm, cands, out, n_candidates=3, chunk_size=20)
    total = sum(len(d) for d in ref["doc_ids"])
    assert f"resumed 1 of {-(-total // 20)} chunks" in caplog.text
    assert sum(n_scored) == total - 20  # all pairs but the saved chunk
    pd.testing.assert_frame_equal(res, ref)
    assert not (tmp_path / "res.parquet.partial").exists()


def test_reuse_sends_only_new_pairs(tiny_data, tiny_lm, cands, tmp_path, monkeypatch, caplog):
    first = run(tiny_data, tiny_lm, cands, tmp_path / "r0.parquet", n_candidates=3)
    n_scored = count_scored(monkeypatch, lm.score_continuations)
    with caplog.at_level(logging.INFO, logger="llmr.scoring.score"):
        second = run(
            tiny_data,
            tiny_lm,
            cands,
            tmp_path / "r1.parquet",
            n_candidates=6,
            reuse=[str(tmp_path / "r0.parquet")],
        )
    old = {
        (q, d): s
        for q, ds, ss in zip(first["query_id"], first["doc_ids"], first["doc_scores"], strict=True)
        for d, s in zip(ds, ss, strict=True)
    }
    pairs = [
        (q, d, s)
        for q, ds, ss in zip(
            second["query_id"], second["doc_ids"], second["doc_scores"], strict=True
        )
        for d, s in zip(ds, ss, strict=True)
    ]
    overlap = [(q, d, s) for q, d, s in pairs if (q, d) in old]
    assert overlap and all(old[(q, d)] == s for q, d, s in overlap)
    assert sum(n_scored) == len(pairs) - len(overlap)
    assert f"reused {len(overlap)} of {len(pairs)} pairs" in caplog.text


def test_bad_inputs(tiny_data, tiny_lm, cands, tiny_encoder, tmp_path, caplog):
    df = read_parquet(cands)
    bad = df.copy()
    bad.at[0, "doc_ids"] = ["nope"] + list(bad.at[0, "doc_ids"])[1:]
    write_parquet(bad, tmp_path / "bad.parquet")
    qid = bad.at[0, "query_id"]
    with pytest.raises(RecordError, match=f"{qid}.*'nope'"):
        run(
            tiny_data,
            tiny_lm,
            str(tmp_path / "bad.parquet"),
            tmp_path / "o.parquet",
            n_candidates=100,
        )
    empty = df.copy()
    empty.at[0, "answers"] = [""]
    write_parquet(empty, tmp_path / "empty.parquet")
    with pytest.raises(RecordError, match="empty gold answer"):
        run(tiny_data, tiny_lm, str(tmp_path / "empty.parquet"), tmp_path / "o.parquet")
    with pytest.raises(ValueError, match="causal-LM head"):
        run(tiny_data, tiny_encoder, cands, tmp_path / "o.parquet", n_candidates=1)
    assert not (tmp_path / "o.parquet").exists()
    # context and answer both longer than max_length: the answer's last tokens are scored
    long = df.head(4).copy()
    long["task_name"] = "gen_echo"
    long["answers"] = [["player scored " * 6]] * 4
    long["query"] = long["query"] * 4
    write_parquet(long, tmp_path / "long.parquet")
    with caplog.at_level(logging.WARNING, logger="llmr.models.lm"):
        out = run(
            tiny_data,
            tiny_lm,
            str(tmp_path / "long.parquet"),
            tmp_path / "l.parquet",
            max_length=8,
            held_out_ok=True,
            n_candidates=2,
        )
    assert np.isfinite(np.concatenate(out["doc_scores"])).all()
    assert "longer than max_length=8" in caplog.text


def test_pair_penalty_is_never_doubled():
    assert score.pair_penalty(True, True, "no", "yes") == CROSS_TASK_PENALTY
    assert score.pair_penalty(True, False, "x", "y") == CROSS_TASK_PENALTY
    assert score.pair_penalty(False, True, "no", "yes") == CROSS_TASK_PENALTY
    assert score.pair_penalty(False, True, "yes", " yes") == 0.0
    assert score.pair_penalty(False, False, "no", "yes") == 0.0  # not classification


def test_scored_queries_are_a_stable_per_task_sample():
    ids = [f"t{t}-{i}" for t in range(3) for i in range(10)]
    tasks = [f"t{t}" for t in range(3) for _ in range(10)]
    a = score.scored_query_ids(ids, tasks, 4, seed=1)
    assert len(a) == 12 and all(sum(q.startswith(f"t{t}-") for q in a) == 4 for t in range(3))
    # the same sample whatever the row order (rounds list queries differently)
    assert a == score.scored_query_ids(ids[::-1], tasks[::-1], 4, seed=1)
    assert a != score.scored_query_ids(ids, tasks, 4, seed=2)
    assert sorted(score.scored_query_ids(ids, tasks, None, seed=1)) == sorted(ids)


def test_max_queries_per_task_limits_scoring(tiny_data, tiny_lm, cands, tmp_path):
    df = run(
        tiny_data, tiny_lm, cands, tmp_path / "few.parquet", n_candidates=2, max_queries_per_task=3
    )
    assert df.groupby("task_name").size().to_dict() == {"cls_sent": 3, "mc_pick": 3}
