"""The rules of ``phylolm-harness check``, each giving a verdict with its evidence.

Every rule states what it measured, the threshold, the noise of the measurement and, where the
noise is random, a p-value. The p-values of all rules are adjusted together (Holm–Bonferroni), so
the chance that a check with unchanged models fails is at most the level, however many models and
rules it holds. A rule fails when the data show, at that level, that it is broken.

- *same model*: a model's collection against its baseline entry (see
  :func:`phylolm_harness.core.check.same_model_test`).
- *max drift*: a model's distance to its baseline entry, or to a named parent in the same run,
  at most a threshold; the noise is the gene-bootstrap standard error.
- *nearest relative*: a model's closest relative is the baseline's; when it is not, the p-value is
  the share of gene resamples in which the baseline's relative is still at least as close.
- *tree*: splits with bootstrap support of at least ``min_support`` in one tree and absent from
  the other, at most ``max_rf`` of them (a Robinson–Foulds distance over well-supported splits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from phylolm_harness.core.check import (
    EXACT_TOLERANCE,
    GeneKey,
    SameModel,
    exceedance_p,
    gene_resamples,
    gene_terms,
    holm,
    same_model_test,
)
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.similarity import Estimator

Collection = Mapping[str, Mapping[GeneKey, GeneObservation]]
"""Model label -> gene -> observation."""
Split = frozenset[str]


@dataclass(frozen=True)
class Drift:
    """``model`` stays within ``max_distance`` of its baseline entry, or of ``parent``."""

    model: str
    max_distance: float
    parent: str | None = None


@dataclass(frozen=True)
class Rules:
    """What ``check`` verifies, and how strictly."""

    same_model: tuple[str, ...] | None = None
    """Models tested against their baseline entry; ``None`` means all of them."""
    drift: tuple[Drift, ...] = ()
    nearest: tuple[str, ...] = ()
    max_rf: int | None = None
    """Most well-supported splits allowed to differ between the trees (``None``: no tree rule)."""
    min_support: float = 0.95
    level: float = 0.01
    """Family-wise error rate of the whole check."""
    permutations: int | None = None
    """Permutations per same-model test; ``None`` chooses enough for the level and test count."""
    tolerance: float = EXACT_TOLERANCE
    resamples: int = 1000
    """Gene resamples for the noise of drift and nearest-relative rules."""
    seed: int = 0


@dataclass(frozen=True)
class Verdict:
    """The outcome of one rule on one subject."""

    rule: str
    subject: str
    passed: bool
    value: float
    threshold: float
    noise: float
    p_value: float | None
    adjusted_p: float | None
    explanation: str
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class TreeSide:
    """What the tree rule needs of one tree: its splits and their bootstrap supports."""

    splits: frozenset[Split]
    supports: Mapping[Split, float]


def permutations_for(level: float, tests: int) -> int:
    """Enough permutations that Holm's smallest threshold is ten times the smallest p-value."""
    return int(min(99_999, max(999, math.ceil(10 * max(tests, 1) / level) - 1)))


def evaluate(
    rules: Rules,
    baseline: Collection,
    current: Collection,
    *,
    baseline_nearest: Mapping[str, str],
    baseline_tree: TreeSide | None,
    current_tree: TreeSide | None,
    estimator: Estimator,
) -> list[Verdict]:
    """Evaluate every rule; the p-values are adjusted together (Holm–Bonferroni).

    Parameters
    ----------
    rules : Rules
    baseline, current : Collection
        Observations of the baseline and of the new run, by model (the same models).
    baseline_nearest : mapping
        Model -> its closest relative in the baseline.
    baseline_tree, current_tree : TreeSide or None
        The two trees, when the tree rule is asked for.
    estimator : {"unbiased", "plugin"}
        Within term, as the baseline was built with.

    Returns
    -------
    list of Verdict
    """
    same = sorted(current) if rules.same_model is None else list(rules.same_model)
    tests = len(same) + len(rules.drift) + len(rules.nearest)
    permutations = rules.permutations or permutations_for(rules.level, tests)
    verdicts: list[Verdict] = []
    for i, model in enumerate(same):
        result = same_model_test(
            baseline[model],
            current[model],
            level=rules.level,
            permutations=permutations,
            seed=rules.seed + i,
            estimator=estimator,
            tolerance=rules.tolerance,
        )
        verdicts.append(_same_model_verdict(model, result, permutations))
    for drift in rules.drift:
        verdicts.append(_drift_verdict(drift, baseline, current, rules, estimator))
    for model in rules.nearest:
        verdicts.append(_nearest_verdict(model, baseline_nearest[model], current, rules, estimator))
    verdicts = _adjust(verdicts, rules.level)
    if rules.max_rf is not None and baseline_tree is not None and current_tree is not None:
        verdicts.append(_tree_verdict(baseline_tree, current_tree, rules))
    return verdicts


def _same_model_verdict(model: str, result: SameModel, permutations: int) -> Verdict:
    if result.exact:
        passed = result.distance <= result.critical
        how = (
            f"exact distributions on {result.genes} genes: distance {_fmt(result.distance)} "
            f"{'within' if passed else 'above'} the floating-point tolerance "
            f"{_fmt(result.critical)}"
        )
    else:
        passed = True  # decided after the adjustment
        how = (
            f"sampled on {result.genes} genes: distance {_fmt(result.distance)} against "
            f"{permutations} permutations of the pooled continuations (null s.d. "
            f"{_fmt(result.noise)})"
        )
    return Verdict(
        "same model",
        model,
        passed,
        result.distance,
        result.critical,
        result.noise,
        result.p_value,
        None,
        how,
        {"genes": result.genes, "mode": "exact" if result.exact else "sampled"},
    )


def _drift_verdict(
    drift: Drift, baseline: Collection, current: Collection, rules: Rules, estimator: Estimator
) -> Verdict:
    if drift.parent is None:
        other, against = baseline[drift.model], "its baseline entry"
    else:
        other, against = current[drift.parent], repr(drift.parent)
    terms = gene_terms(current[drift.model], other, estimator)
    value = float(terms.distance()[0])
    resampled = terms.distance(gene_resamples(len(terms.genes), rules.resamples, rules.seed))
    finite = resampled[np.isfinite(resampled)]
    noise = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    # Deterministic only without tail draws: draws of two different weights are independent.
    exact = all(
        current[drift.model][g].exact
        and other[g].exact
        and current[drift.model][g].draws is None
        and other[g].draws is None
        for g in terms.genes
    )
    p = None if exact else exceedance_p(value, drift.max_distance, noise)
    passed = value <= drift.max_distance + rules.tolerance if p is None else True
    subject = drift.model if drift.parent is None else f"{drift.model} -> {drift.parent}"
    how = (
        f"distance to {against} {_fmt(value)} ± {_fmt(noise)} (gene bootstrap) against at most "
        f"{_fmt(drift.max_distance)}"
    )
    return Verdict(
        "max drift", subject, passed, value, drift.max_distance, noise, p, None, how,
        {"genes": len(terms.genes), "against": drift.parent or "baseline"},
    )  # fmt: skip


def _nearest_verdict(
    model: str, expected: str, current: Collection, rules: Rules, estimator: Estimator
) -> Verdict:
    terms = {
        other: gene_terms(current[model], current[other], estimator)
        for other in sorted(current)
        if other != model
    }
    row = {other: float(t.distance()[0]) for other, t in terms.items()}
    found = min((max(d, 0.0), other) for other, d in row.items())[1]
    d_expected, d_found = max(row[expected], 0.0), max(row[found], 0.0)
    if found == expected:
        return Verdict(
            "nearest relative", model, True, d_expected, d_expected, float("nan"), None, None,
            f"closest relative is still {expected!r} (distance {_fmt(d_expected)})",
            {"expected": expected, "found": found},
        )  # fmt: skip
    old, new = terms[expected], terms[found]
    genes = sorted(set(old.genes) & set(new.genes))
    weights = gene_resamples(len(genes), rules.resamples, rules.seed)
    gap = old.restrict(genes).distance(weights) - new.restrict(genes).distance(weights)
    still = int(np.count_nonzero(~(gap > 0)))
    p = (1.0 + still) / (1.0 + len(gap))
    finite = gap[np.isfinite(gap)]
    noise = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    how = (
        f"closest relative is now {found!r} ({_fmt(d_found)}), not {expected!r} "
        f"({_fmt(d_expected)}); {expected!r} is at least as close in "
        f"{still} of {len(gap)} gene resamples"
    )
    return Verdict(
        "nearest relative", model, True, d_expected - d_found, 0.0, noise, float(p), None, how,
        {"expected": expected, "found": found},
    )  # fmt: skip


def _tree_verdict(baseline: TreeSide, current: TreeSide, rules: Rules) -> Verdict:
    strong_base = {s for s in baseline.splits if baseline.supports.get(s, 0.0) >= rules.min_support}
    strong_now = {s for s in current.splits if current.supports.get(s, 0.0) >= rules.min_support}
    lost = sorted(sorted(s) for s in strong_base - current.splits)
    new = sorted(sorted(s) for s in strong_now - baseline.splits)
    count = len(lost) + len(new)
    assert rules.max_rf is not None
    passed = count <= rules.max_rf
    how = (
        f"{count} split(s) with bootstrap support >= {100 * rules.min_support:.0f}% differ between "
        f"the baseline tree and this run's ({len(lost)} lost, {len(new)} new); at most "
        f"{rules.max_rf} allowed"
    )
    return Verdict(
        "tree", "tree", passed, float(count), float(rules.max_rf), float("nan"), None, None, how,
        {"lost": lost, "new": new},
    )  # fmt: skip


def _adjust(verdicts: list[Verdict], level: float) -> list[Verdict]:
    tested = [i for i, v in enumerate(verdicts) if v.p_value is not None]
    adjusted = holm([verdicts[i].p_value or 0.0 for i in tested])
    out = list(verdicts)
    for i, q in zip(tested, adjusted, strict=True):
        out[i] = replace(out[i], adjusted_p=q, passed=q >= level)
    return out


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "inf" if value > 0 else "n/a"
    return f"{value:.4g}"
