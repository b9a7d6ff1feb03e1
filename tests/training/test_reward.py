"""Reward model: listwise CE, tiny training, resume, scoring, errors (llmr.training.reward)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

from llmr.core.io import read_json, read_parquet, write_parquet
from llmr.core.schema import stage_defaults, training_defaults
from llmr.training import loop, reward
from llmr.training.groups import PassagePool, ScoredQueries

from helpers.tiny import synthetic_scores

TINY = dict(max_length=48, steps=4, batch_size=4, n_negatives=3, lr=1e-3, save_steps=2)


@pytest.fixture(scope="module")
def scored(tiny_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("scores") / "round0.parquet")
    synthetic_scores(tiny_data["train"], tiny_data["passages"], tiny_data["tasks"], out)
    return out


def _train(tiny_data, tiny_encoder, scores, out, **kw):
    reward.train_reward(
        [scores], tiny_data["passages"], tiny_data["tasks"], tiny_encoder,
        str(out / "rm"), str(out / "rm.json"), **training_defaults("reward") | TINY | kw,
    )  # fmt: skip
    return read_json(out / "rm.json")


def test_listwise_ce_hand_computed():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    # row 1: -log(e^2 / (e^2 + e + 1)) = log(1 + e^-1 + e^-2); row 2: log 3
    expected = (math.log(1 + math.exp(-1) + math.exp(-2)) + math.log(3)) / 2
    assert reward.listwise_ce(logits).item() == pytest.approx(expected, abs=1e-6)


@pytest.fixture(scope="module")
def trained(tiny_data, tiny_encoder, scored, tmp_path_factory):
    out = tmp_path_factory.mktemp("rm")
    return out, _train(tiny_data, tiny_encoder, scored, out)


def test_train_reward_tiny(trained):
    out, m = trained
    for key in (
        "loss_curve", "train_group_acc", "heldback_group_acc", "n_queries", "n_groups",
        "time_s", "steps",
    ):  # fmt: skip
        assert key in m
    assert m["steps"] == 4 and m["n_groups"] == 16
    assert [s for s, _ in m["loss_curve"]] == [1, 2, 3, 4]
    assert all(math.isfinite(v) for _, v in m["loss_curve"])
    assert m["filter_counts"]["held_out_task"] == 24
    model = AutoModelForSequenceClassification.from_pretrained(out / "rm")
    assert model.config.num_labels == 1
    assert not (out / "rm.ckpt").exists()  # checkpoints removed after success


def test_teacher_covers_every_query_and_topk_candidates(trained, tiny_data, scored, tmp_path):
    """The teacher labels the top ``topk`` candidates of EVERY query of the candidate files
    (LLM-scored or not) plus every LLM-scored pair."""
    out, _ = trained
    s = read_parquet(scored)
    # candidates for every training query: 10 pool passages each (a different order)
    train = read_parquet(tiny_data["train"])
    pool_ids = read_parquet(tiny_data["passages"])["id"].tolist()
    cand = train.copy()
    cand["doc_ids"] = [
        [d for d in pool_ids[i:] + pool_ids[:i] if d != q][:10]
        for i, q in enumerate(train["query_id"])
    ]
    cand["doc_scores"] = [list(np.linspace(1, 0, 10)) for _ in range(len(cand))]
    write_parquet(pd.DataFrame(cand), tmp_path / "cand.parquet")
    scored_part = s.iloc[:5]
    write_parquet(pd.DataFrame(scored_part), tmp_path / "scores.parquet")
    reward.reward_score(
        str(out / "rm"),
        [str(tmp_path / "cand.parquet")],
        tiny_data["passages"],
        str(tmp_path / "teacher.parquet"),
        scores=[str(tmp_path / "scores.parquet")],
        **stage_defaults(reward.reward_score, "teacher", "reward", "precision")
        | {"topk": 4, "max_length": 48},
    )
    t = read_parquet(tmp_path / "teacher.parquet").set_index("query_id")
    assert set(t.index) == set(train["query_id"])  # every training query
    for qid, docs in zip(cand["query_id"], cand["doc_ids"], strict=True):
        extra = []
        if qid in set(scored_part["query_id"]):
            row = scored_part.set_index("query_id").loc[qid]
            extra = [d for d in row["doc_ids"] if d not in docs[:4]]
        assert list(t.loc[qid, "doc_ids"]) == docs[:4] + extra
        assert np.isfinite(t.loc[qid, "doc_scores"]).all()
        assert len(t.loc[qid, "doc_scores"]) == len(t.loc[qid, "doc_ids"])


class _Interrupt(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == 3:
            raise KeyboardInterrupt("simulated kill")


def test_resume_after_interruption(tiny_data, tiny_encoder, scored, tmp_path, monkeypatch):
    ref = _train(tiny_data, tiny_encoder, scored, tmp_path / "ref")
    monkeypatch.setattr(loop, "EXTRA_CALLBACKS", [_Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_data, tiny_encoder, scored, tmp_path / "run")
    assert (tmp_path / "run" / "rm.ckpt" / "checkpoint-2").is_dir()
    assert not (tmp_path / "run" / "rm").exists()
    monkeypatch.setattr(loop, "EXTRA_CALLBACKS", [])
    m = _train(tiny_data, tiny_encoder, scored, tmp_path / "run")
    assert m["resumed_from"].endswith("checkpoint-2") and m["steps"] == 4
    # same data and RNG state after resuming: the loss curve matches an uninterrupted run
    np.testing.assert_allclose(
        [v for _, v in m["loss_curve"]], [v for _, v in ref["loss_curve"]], rtol=1e-4
    )


def test_empty_after_filter_error(tiny_data, tiny_encoder, scored, tmp_path):
    df = read_parquet(scored)
    df["doc_scores"] = [[-100.0 - i for i in range(len(s))] for s in df["doc_scores"]]
    bad = tmp_path / "bad.parquet"
    write_parquet(pd.DataFrame(df), bad)
    with pytest.raises(ValueError, match="third_best_penalised") as e:
        _train(tiny_data, tiny_encoder, str(bad), tmp_path)
    assert "bad.parquet" in str(e.value) and "held_out_task=24" in str(e.value)


def _queries(rows):
    frame = pd.DataFrame(rows)
    golds = [
        a[0] if not o else o[ord(a[0]) - 65]
        for a, o in zip(frame["answers"], frame["options"], strict=True)
    ]
    n = len(rows)
    return ScoredQueries(
        frame,
        golds,
        np.zeros(n, dtype=bool),
        [np.arange(4)] * n,
        [np.zeros(4)] * n,
        [frozenset()] * n,
    )


class _TypesByDefault:
    """A tokenizer returning ``token_type_ids`` unless ``return_token_type_ids=False``."""

    def __init__(self, tok):
        self.tok = tok

    def __call__(self, *args, return_token_type_ids=None, **kw):
        enc = self.tok(*args, **kw)
        if return_token_type_ids is not False:
            enc["token_type_ids"] = (
                [[0] * len(x) for x in enc["input_ids"]]
                if not isinstance(enc["input_ids"], torch.Tensor)
                else torch.zeros_like(enc["input_ids"])
            )
        return enc

    def __getattr__(self, name):
        return getattr(self.tok, name)


def test_reward_pairs_draw_a_seeded_answer_and_pass_no_token_types(tiny_encoder):
    """The reference's pair: query + "\\n" + random.choice(answers) (the gold option's text
    for multiple choice), no token-type ids; here the draw is a function of the item."""
    tok = _TypesByDefault(AutoTokenizer.from_pretrained(tiny_encoder))
    assert "token_type_ids" in tok(["a"], ["b"])  # as BERT / ELECTRA tokenizers do
    pool = PassagePool(
        [f"p{i}" for i in range(4)],
        [f"doc {i}" for i in range(4)],
        [""] * 4,
        ["t"] * 4,
        {f"p{i}": i for i in range(4)},
        {},
    )
    q = _queries([
        {"query": "gen", "answers": ["a1", "a2", "a3"], "options": []},
        {"query": "mc", "answers": ["B"], "options": ["zero", "one", "two"]},
    ])  # fmt: skip
    coll = reward.RewardCollator(tok, q, pool, max_length=32, seed=5)
    item = {"qi": 0, "docs": np.array([0, 1, 2, 3]), "scores": np.zeros(4)}
    batch = coll([item])
    assert "token_type_ids" not in batch and batch["input_ids"].shape[0] == 4
    again = reward.RewardCollator(tok, q, pool, max_length=32, seed=5)([item])
    torch.testing.assert_close(batch["input_ids"], again["input_ids"])  # same item, same pairs
    seen = set()
    for k in range(30):
        docs = np.random.default_rng(k).permutation(4)
        seen |= set(coll.firsts({"qi": 0, "docs": docs}))
    assert seen == {"gen\na1", "gen\na2", "gen\na3"}  # every answer gets drawn
    mc = {"qi": 1, "docs": np.arange(4)}
    assert set(coll.firsts(mc)) == {"mc\none"}  # the gold option, always
    assert reward.reward_answer(["only"], [], 7) == "only"


def test_reward_model_tokenizer_passes_no_token_types(trained):
    out, _ = trained
    _, tok = reward.load_reward_model(str(out / "rm"), device="cpu")
    tok.tokenizer = _TypesByDefault(tok.tokenizer)
    enc = tok(["query\nanswer"], ["passage"], truncation="longest_first", max_length=16)
    assert "token_type_ids" not in enc and tok.pad_token_id is not None
    seed = reward.TEACHER_DRAW_SEED
    assert reward.pair_draw("q1", "d1", seed) == reward.pair_draw("q1", "d1", seed)
    assert len({reward.pair_draw("q1", f"d{i}", seed) % 3 for i in range(30)}) == 3


def test_teacher_pairs_topk_100_and_llm_scored_only(scored, tmp_path):
    s = read_parquet(scored).iloc[:3]
    cand = s.copy()
    cand["doc_ids"] = [
        [f"c{j}" for j in range(120)],
        [f"c{j}" for j in range(50)],
        [f"c{j}" for j in range(100)],
    ]
    cand["doc_scores"] = [[0.0] * len(d) for d in cand["doc_ids"]]
    write_parquet(pd.DataFrame(cand), tmp_path / "cand.parquet")
    write_parquet(pd.DataFrame(s), tmp_path / "scores.parquet")
    t = reward.teacher_pairs(
        [str(tmp_path / "cand.parquet")], [str(tmp_path / "scores.parquet")], topk=100
    )
    n_llm = [len(d) for d in s["doc_ids"]]
    assert [len(d) for d in t["doc_ids"]] == [100 + n_llm[0], 50 + n_llm[1], 100 + n_llm[2]]
    assert list(t["doc_ids"].iat[0][:100]) == [f"c{j}" for j in range(100)]
    only = reward.teacher_pairs(
        [str(tmp_path / "cand.parquet")],
        [str(tmp_path / "scores.parquet")],
        topk=100,
        llm_scored_only=True,
    )
    assert [list(d) for d in only["doc_ids"]] == [list(d) for d in s["doc_ids"]]
    with pytest.raises(ValueError, match="llm_scored_only"):
        reward.teacher_pairs([str(tmp_path / "cand.parquet")], [], 100, llm_scored_only=True)


def test_teacher_llm_scored_only_labels_the_llm_pairs_alone(trained, tiny_data, scored, tmp_path):
    out, _ = trained
    s = read_parquet(scored).iloc[:5]
    write_parquet(pd.DataFrame(s), tmp_path / "scores.parquet")
    reward.reward_score(
        str(out / "rm"),
        [scored],
        tiny_data["passages"],
        str(tmp_path / "t.parquet"),
        scores=[str(tmp_path / "scores.parquet")],
        **stage_defaults(reward.reward_score, "teacher", "reward", "precision")
        | {"max_length": 48, "llm_scored_only": True},
    )
    t = read_parquet(tmp_path / "t.parquet")
    assert t["query_id"].tolist() == s["query_id"].tolist()
    assert [list(d) for d in t["doc_ids"]] == [list(d) for d in s["doc_ids"]]
    assert all(np.isfinite(d).all() for d in t["doc_scores"])
