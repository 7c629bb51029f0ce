"""The random-questions baseline: per-question results summed as lm-eval does, then regressed."""

from __future__ import annotations

import math

import numpy as np

from phylolm_harness.core.subsample import QUESTIONS, QuestionScores, subset_baseline


def answers(ability: np.ndarray, questions: int, seed: int = 0) -> QuestionScores:
    """Right (1) or wrong (0) on each question, each model with its own chance of being right."""
    rng = np.random.default_rng(seed)
    values = (rng.random((len(ability), questions)) < ability[:, None]).astype(np.float64)
    labels = tuple(f"m{i}" for i in range(len(ability)))
    return QuestionScores(labels, values, np.ones_like(values), "mean")


def leave_one_out(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    folds = [np.array([i]) for i in range(n)]
    return [np.setdiff1d(np.arange(n), f) for f in folds], folds


def test_the_baseline_tracks_scores_that_the_questions_measure():
    ability = np.linspace(0.3, 0.8, 12)
    q = answers(ability, 1000)
    full = q.values.mean(axis=1)
    name, r, mae = subset_baseline(q, full, *leave_one_out(12))
    assert name == f"{QUESTIONS} random questions + regression"
    assert r > 0.9
    # 100 questions of a 0.3-0.8 share: a standard error near 0.05 a model, shrunk by the line
    assert mae < 0.06
    # scores unrelated to the questions: no better than their own spread
    other = np.random.default_rng(1).permutation(full)
    assert subset_baseline(q, other, *leave_one_out(12))[2] > mae


def test_too_few_questions_give_no_baseline():
    q = answers(np.linspace(0.3, 0.8, 6), 2 * QUESTIONS)
    assert subset_baseline(q, q.values.mean(axis=1), *leave_one_out(6)) is None


def test_pairs_are_summed_before_the_ratio_as_lm_eval_aggregates_them():
    ll = np.array([[-10.0, -30.0, -5.0]])
    size = np.array([[10.0, 20.0, 5.0]])
    rows, first_two = np.array([0]), np.array([0, 1])
    bpb = QuestionScores(("a",), ll, size, "bits_per_byte").score(rows, first_two)
    assert bpb[0] == -(-40.0 / 30.0) / math.log(2)  # not the mean of per-question ratios
    ppl = QuestionScores(("a",), ll, size, "perplexity").score(rows, first_two)
    assert ppl[0] == math.exp(40.0 / 30.0)


def test_rows_are_taken_in_the_order_asked():
    q = answers(np.array([0.1, 0.9, 0.5]), 10)
    assert q.of(["m2", "m0"]).labels == ("m2", "m0")
    assert np.array_equal(q.of(["m2", "m0"]).values, q.values[[2, 0]])
    assert q.of(["m0", "nobody"]) is None
