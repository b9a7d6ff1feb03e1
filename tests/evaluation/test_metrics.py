"""Metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from llmr.evaluation.metrics import (
    accuracy,
    binary_f1,
    corpus_extras,
    exact_match,
    metric_for,
    normalize_answer,
    positive_label,
    rouge,
    token_f1,
)


def test_normalize_answer_squad():
    assert normalize_answer("  The  Eiffel-Tower, in Paris! ") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words


def test_exact_match_max_over_golds():
    em = exact_match(["the Beatles", "Paris", ""], [["Beatles", "x"], ["London"], [""]])
    np.testing.assert_array_equal(em, [1.0, 0.0, 1.0])


def test_token_f1_hand_computed():
    # pred tokens {new, york, city}, gold {new, york}: P=2/3, R=1, F1=0.8
    f1 = token_f1(["New York City", "abc"], [["new york", "zzz"], ["xyz"]])
    np.testing.assert_allclose(f1, [0.8, 0.0])
    # max over golds picks the better one
    np.testing.assert_allclose(token_f1(["a cat sat"], [["dog", "cat sat"]]), [1.0])


def test_accuracy_strips_and_casefolds():
    acc = accuracy([" good", "Bad", "good"], [["good"], ["bad"], ["bad"]])
    np.testing.assert_array_equal(acc, [1.0, 1.0, 0.0])
    with pytest.raises(ValueError):
        accuracy(["a"], [["a"], ["b"]])


def test_binary_f1_hand_computed():
    preds = ["yes", "yes", "no", "no", "yes"]
    golds = [["yes"], ["no"], ["yes"], ["no"], ["yes"]]
    # tp=2 fp=1 fn=1 -> F1 = 4/6
    assert binary_f1(preds, golds, "yes") == pytest.approx(2 / 3)
    assert positive_label(["No", "Yes"]) == "Yes"
    assert positive_label(["neg", "pos"]) == "pos"
    assert binary_f1(["no"], [["no"]], "yes") == 0.0
    extra = corpus_extras("f1_acc", preds, golds, ["no", "yes"])
    assert extra["f1"] == pytest.approx(2 / 3)
    assert extra["acc_f1"] == pytest.approx((3 / 5 + 2 / 3) / 2)  # accuracy 3/5
    assert corpus_extras("accuracy", preds, golds) == {}


def test_rouge_known_pair():
    r = rouge(["the cat on the mat"], [["the cat sat on the mat"]])
    # unigrams: 5 common, P=5/5 R=5/6 -> F=10/11; bigrams: 3 common of 4 / 5 -> F=2/3
    assert r["rouge1"][0] == pytest.approx(10 / 11)
    assert r["rouge2"][0] == pytest.approx(2 / 3)
    assert r["rougeL"][0] == pytest.approx(10 / 11)
    assert rouge([""], [["abc"]])["rougeL"][0] == 0.0
    assert rouge(["c d"], [["a b", "c d"]])["rougeL"][0] == pytest.approx(1.0)


def test_metric_for_dispatch():
    assert metric_for("accuracy")[0] == "accuracy"
    assert metric_for("f1_acc")[0] == "accuracy"
    name, fn = metric_for("exact_match")
    out = fn(["Paris"], [["paris"]])
    assert name == "exact_match" and list(out) == ["exact_match", "token_f1"]
    name, fn = metric_for("rouge")
    assert name == "rougeL" and set(fn(["a"], [["a"]])) == {"rougeL", "rouge1", "rouge2"}
    with pytest.raises(ValueError):
        metric_for("bleu")
