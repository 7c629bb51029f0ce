"""Prediction intervals, their measured coverage, the extrapolation flag, and the run plan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phylolm_harness.core.conformal import conformal_radius, fold_coverage, reach
from phylolm_harness.core.crossval import OUTER_FOLDS, _dealt, _folds, cross_validate, fit_predict
from phylolm_harness.core.plan import plan_runs
from phylolm_harness.core.predict import predict_scores
from phylolm_harness.errors import InputError


def planted(n_families: int, per_family: int, seed: int, noise: float = 0.03):
    """Families as clusters of points; a model's score is a smooth function of its point + noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(n_families, 3))
    points = np.repeat(centres, per_family, axis=0) + rng.normal(
        scale=0.4, size=(n_families * per_family, 3)
    )
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)) / 4.0
    np.fill_diagonal(d, 0.0)
    scores = 1 / (1 + np.exp(-points[:, 0])) + rng.normal(scale=noise, size=len(points))
    labels = [f"m{i:02d}" for i in range(len(points))]
    families = {m: f"fam{i // per_family}" for i, m in enumerate(labels)}
    return d, labels, np.clip(scores, 0, 1), families


def test_conformal_coverage_holds_on_exchangeable_errors():
    # the guarantee: P(new error <= radius) >= level, for any error distribution
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(4000):
        errors = np.abs(rng.standard_t(3, size=20))
        hits.append(abs(rng.standard_t(3)) <= conformal_radius(errors, 0.8))
    assert 0.8 <= np.mean(hits) <= 0.8 + 1 / 21 + 0.02


def test_too_few_errors_give_the_whole_range():
    assert conformal_radius(np.array([0.1, 0.2, 0.3]), 0.9) == math.inf
    radius, coverage, width = fold_coverage(
        np.array([0.2, 0.4]), np.array([0.3, 0.5]), [np.array([0]), np.array([1])], 0.9
    )
    assert np.all(np.isinf(radius)) and math.isnan(coverage) and width == 1.0


def test_measured_coverage_is_near_the_level_on_many_populations():
    covered = []
    for seed in range(12):
        d, labels, y, fam = planted(n_families=8, per_family=4, seed=seed)
        scores = dict(zip(labels, y.tolist(), strict=True))
        p = predict_scores(d, labels, scores, fam, "kernel", level=0.8)
        ev = p.evaluation("leave-one-family-out")
        covered.append(ev.coverage)
        inside = (p.real >= p.lower - 1e-12) & (p.real <= p.upper + 1e-12)
        assert inside.mean() == pytest.approx(ev.coverage)
        assert ev.width > 0
        dealt = p.evaluation("leave-one-out")  # 32 models dealt into 20 folds of 1 or 2
        assert dealt.n_folds == 20 and 0 <= dealt.coverage <= 1
    assert 0.65 <= np.mean(covered) <= 0.95
    d, labels, y, fam = planted(n_families=4, per_family=4, seed=0)
    p = predict_scores(d, labels, dict(zip(labels, y.tolist(), strict=True)), fam, "kernel")
    one_each = p.evaluation("leave-one-out")
    assert one_each.n_folds == 16 and math.isnan(one_each.coverage)  # fixed by ranks: not reported


def test_coverage_falls_when_one_family_is_harder_to_predict():
    d, labels, y, fam = planted(n_families=8, per_family=4, seed=3, noise=0.01)
    hard = np.random.default_rng(0).normal(scale=0.25, size=4)
    y = y.copy()
    y[:4] = np.clip(y[:4] + hard, 0, 1)  # family 0 scores far from what its genes suggest
    p = predict_scores(
        d, labels, dict(zip(labels, y.tolist(), strict=True)), fam, "kernel", level=0.8
    )
    inside = (p.real >= p.lower - 1e-12) & (p.real <= p.upper + 1e-12)
    assert inside[:4].mean() < 0.5  # the hard family's intervals, calibrated on the others, miss
    assert p.evaluation("leave-one-family-out").coverage < 0.8


def test_unscored_models_get_intervals_from_every_held_out_error():
    d, labels, y, fam = planted(n_families=4, per_family=6, seed=1)
    scores = {m: float(s) for m, s in zip(labels[:-3], y[:-3], strict=True)}
    p = predict_scores(d, labels, scores, fam, "knn", level=0.8)
    main = p.evaluation(p.protocol)
    radius = conformal_radius(np.abs(main.real - main.predicted), 0.8)
    np.testing.assert_allclose(p.upper[-3:], np.clip(p.predicted[-3:] + radius, 0, 1))
    np.testing.assert_allclose(p.lower[-3:], np.clip(p.predicted[-3:] - radius, 0, 1))
    assert np.all(p.lower <= p.predicted) and np.all(p.predicted <= p.upper)


def test_a_model_of_an_unseen_family_far_away_is_flagged():
    d, labels, y, fam = planted(n_families=3, per_family=4, seed=2)
    n = len(labels)
    far = np.full((n + 1, n + 1), 0.0)
    far[:n, :n] = d
    far[n, :n] = far[:n, n] = d.max() * 3
    names = [*labels, "stranger"]
    scores = dict(zip(labels, y.tolist(), strict=True))
    families = {**fam, "stranger": "new"}
    p = predict_scores(far, names, scores, families, "knn", protocol="leave-one-out")
    assert p.extrapolates.tolist() == [False] * n + [True]
    assert p.nearest_distance[-1] == pytest.approx(d.max() * 3)
    # Under leave-one-family-out the reach is that of whole families held out; the stranger is
    # beyond it too (held-out rows are judged by their nearest model outside their family).
    p = predict_scores(far, names, scores, families, "knn")
    assert p.reach == pytest.approx(reach(far, np.arange(n), np.repeat(np.arange(3), 4)))
    assert p.extrapolates[-1]


def test_reach_is_the_farthest_checked_distance():
    d = np.array([[0, 1, 5], [1, 0, 4], [5, 4, 0.0]])
    assert reach(d, np.arange(3), np.arange(3)) == 4.0  # under leave-one-out
    assert reach(d, np.arange(3), np.array([0, 0, 1])) == 5.0  # families {0, 1} and {2}


def mae_on_rest(d, y, chosen):
    """Error on the other models of the nearest-relatives predictor fitted on ``chosen``."""
    rest = np.setdiff1d(np.arange(len(y)), chosen)
    pred, _ = fit_predict(d, y, np.asarray(chosen), rest, "knn")
    return float(np.mean(np.abs(pred - y[rest])))


def test_plan_beats_random_choices_on_planted_families():
    wins, ratios = [], []
    for seed in range(6):
        d, labels, y, _ = planted(n_families=5, per_family=6, seed=seed)
        k = 5
        ours = mae_on_rest(d, y, [labels.index(m) for m in plan_runs(d, labels, k).chosen])
        rng = np.random.default_rng(seed)
        random = [mae_on_rest(d, y, rng.choice(len(y), k, replace=False)) for _ in range(100)]
        wins.append(np.mean([ours < r for r in random]))
        ratios.append(ours / np.mean(random))
    assert np.mean(wins) > 0.7 and np.mean(ratios) < 0.9


def test_plan_conditions_on_scored_models_and_checks_k():
    d, labels, _, _ = planted(n_families=3, per_family=3, seed=4)
    first = plan_runs(d, labels, 3)
    assert len(set(first.chosen)) == 3
    assert list(first.remaining) == sorted(first.remaining, reverse=True)
    after = plan_runs(d, labels, 2, scored=first.chosen[:1])
    assert first.chosen[0] not in after.chosen and after.scored == first.chosen[:1]
    with pytest.raises(InputError, match="between 1 and 8"):
        plan_runs(d, labels, 9, scored=labels[:1])
    with pytest.raises(InputError, match="not in the tree"):
        plan_runs(d, labels, 1, scored=["nobody"])


def test_level_outside_zero_one_is_refused():
    d, labels, y, fam = planted(n_families=2, per_family=3, seed=0)
    with pytest.raises(InputError, match="coverage"):
        predict_scores(d, labels, dict(zip(labels, y.tolist(), strict=True)), fam, level=1.0)


def test_many_families_are_dealt_into_folds_that_keep_each_family_whole():
    d, labels, y, fam = planted(n_families=30, per_family=2, seed=1)
    groups = np.array([int(fam[m][3:]) for m in labels], dtype=np.int64)
    ev = cross_validate(d, y, groups, "kernel", "leave-one-family-out", labels)
    assert ev.n_folds == OUTER_FOLDS and np.isfinite(ev.predicted).all()
    folds = _dealt(_folds(groups), OUTER_FOLDS)
    assert sorted(np.concatenate(folds).tolist()) == list(range(60))  # each model once
    for held in folds:  # a family is never split between training and held-out models
        assert all(np.isin(np.flatnonzero(groups == g), held).all() for g in set(groups[held]))
    # a prediction made without the fold equals a fit on the models outside it
    held = folds[3]
    train = np.setdiff1d(np.arange(60), held)
    alone, _ = fit_predict(d, y, train, held, "kernel", groups)
    np.testing.assert_allclose(ev.predicted[held], alone)
