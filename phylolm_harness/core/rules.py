"""The rules of ``phylolm-harness check``, each giving a verdict with its evidence.

Every rule states what it measured, the threshold, the noise of the measurement and, where the
noise is random, a p-value. The p-values of all rules are adjusted together (Holm–Bonferroni), so
the chance that a check with unchanged models fails is at most the level, however many models and
rules it holds. A rule fails when the data show, at that level, that it is broken.

Rules with a limit and a noisy measurement (*max drift*, *nearest relative*) also need the data to
show that they hold: they pass only when the interval lies on the right side of the limit (a
second family of p-values, "the rule is broken", adjusted the same way), and are
**inconclusive** when it spans the limit. A check with too few genes then says it cannot tell
instead of passing.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import t as student_t

from phylolm_harness.core.check import (
    EXACT_TOLERANCE,
    GeneKey,
    GeneTerms,
    SameModel,
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
Outcome = Literal["pass", "fail", "inconclusive"]


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
    inconclusive: Literal["fail", "pass"] = "fail"
    """What a rule the data cannot decide counts as in the check's outcome."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one rule on one subject."""

    rule: str
    subject: str
    outcome: Outcome
    value: float
    threshold: float
    noise: float
    p_value: float | None
    """Evidence that the rule is broken (small: broken)."""
    adjusted_p: float | None
    explanation: str
    details: Mapping[str, object] = field(default_factory=dict)
    holds_p: float | None = None
    """Evidence that the rule holds (small: holds), for rules that must show it; else None."""
    holds_adjusted_p: float | None = None

    @property
    def passed(self) -> bool:
        """Whether the rule holds."""
        return self.outcome == "pass"


@dataclass(frozen=True)
class TreeSide:
    """What the tree rule needs of one tree: its splits and their bootstrap supports."""

    splits: frozenset[Split]
    supports: Mapping[Split, float]


MIN_NOISY_GENES = 10
"""Fewest genes on which a sampled drift or nearest-relative rule may pass or fail: below it the
gene bootstrap underestimates the noise badly (one gene resampled is always itself), so the rule is
inconclusive whatever it measured."""


def _spread(values: NDArray[np.float64], genes: int) -> float:
    """Return the gene-bootstrap standard error, as the unbiased one of a mean over ``genes``.

    The bootstrap's spread is the plug-in (divide by n) standard error; ``sqrt(n / (n - 1))``
    makes it the usual one.
    """
    finite = values[np.isfinite(values)]
    if finite.size < 2 or genes < 2:
        return float("nan")
    return float(finite.std(ddof=1)) * math.sqrt(genes / (genes - 1))


def _noisy_p(value: float, limit: float, noise: float, genes: int) -> tuple[float, float]:
    """Return the p-values that "the true value is at most ``limit``" is broken, and that it holds.

    Student's t with ``genes - 1`` degrees of freedom on the bootstrap standard error. ``(1, 1)``,
    no evidence either way, with fewer than :data:`MIN_NOISY_GENES` genes or no usable noise; an
    infinite value (nothing in common) is evidence of a break.
    """
    if genes < MIN_NOISY_GENES:
        return 1.0, 1.0
    if value == math.inf:
        return 0.0, 1.0
    if not (math.isfinite(noise) and noise > 1e-12 * max(abs(value), 1.0)):
        return 1.0, 1.0
    broken = float(student_t.sf((value - limit) / noise, genes - 1))
    return broken, 1.0 - broken


def _deterministic(
    mine: Mapping[GeneKey, GeneObservation],
    other: Mapping[GeneKey, GeneObservation],
    genes: Sequence[GeneKey],
) -> bool:
    """Whether two collections are free of sampling on these genes (exact, without tail draws).

    Tail draws of two different weights are independent, so they count as sampling.
    """
    return all(
        mine[g].exact and other[g].exact and mine[g].draws is None and other[g].draws is None
        for g in genes
    )


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
    outcome: Outcome = "pass"  # sampled: decided after the adjustment
    if result.exact:
        outcome = "pass" if result.distance <= result.critical else "fail"
        how = (
            f"exact distributions on {result.genes} genes: distance {_fmt(result.distance)} "
            f"{'within' if outcome == 'pass' else 'above'} the floating-point tolerance "
            f"{_fmt(result.critical)}"
        )
    else:
        how = (
            f"sampled on {result.genes} genes: distance {_fmt(result.distance)} against "
            f"{permutations} permutations of the pooled continuations (null s.d. "
            f"{_fmt(result.noise)})"
        )
    return Verdict(
        "same model",
        model,
        outcome,
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
    genes = len(terms.genes)
    resampled = terms.distance(gene_resamples(genes, rules.resamples, rules.seed))
    noise = _spread(resampled, genes)
    exact = _deterministic(current[drift.model], other, terms.genes)
    p, holds = (None, None) if exact else _noisy_p(value, drift.max_distance, noise, genes)
    within = value <= drift.max_distance + rules.tolerance
    subject = drift.model if drift.parent is None else f"{drift.model} -> {drift.parent}"
    how = (
        f"distance to {against} {_fmt(value)} ± {_fmt(noise)} (gene bootstrap) against at most "
        f"{_fmt(drift.max_distance)}"
    )
    return Verdict(
        "max drift", subject, "pass" if within else "fail", value, drift.max_distance, noise, p,
        None, how, {"genes": genes, "against": drift.parent or "baseline"}, holds,
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
        return _kept_nearest(model, expected, terms, rules, current)
    old, new = terms[expected], terms[found]
    genes = sorted(set(old.genes) & set(new.genes))
    weights = gene_resamples(len(genes), rules.resamples, rules.seed)
    gap = old.restrict(genes).distance(weights) - new.restrict(genes).distance(weights)
    still = int(np.count_nonzero(~(gap > 0)))
    noise = _spread(gap, len(genes))
    head = (
        f"closest relative is now {found!r} ({_fmt(d_found)}), not {expected!r} "
        f"({_fmt(d_expected)})"
    )
    how = f"{head}; {expected!r} is at least as close in {still} of {len(gap)} gene resamples"
    details = {"expected": expected, "found": found, "genes": len(genes)}
    if all(_deterministic(current[model], current[o], genes) for o in (expected, found)):
        return Verdict(
            "nearest relative", model, "fail", d_expected - d_found, 0.0, noise, None, None,
            f"{head}; exact distributions", details,
        )  # fmt: skip
    p = (1.0 + still) / (1.0 + len(gap)) if len(genes) >= MIN_NOISY_GENES else 1.0
    return Verdict(
        "nearest relative", model, "pass", d_expected - d_found, 0.0, noise, float(p), None, how,
        details, 1.0,
    )  # fmt: skip


def _kept_nearest(
    model: str,
    expected: str,
    terms: Mapping[str, GeneTerms],
    rules: Rules,
    current: Collection,
) -> Verdict:
    """Weigh a closest relative that is still the baseline's against every other model.

    For each other model, the gap ``d(expected) - d(other)`` and its gene-bootstrap s.e. give the
    chance that the other is in truth at least as close (:func:`_noisy_p`); their sum bounds the
    chance that any is (a union bound). Exact collections are ranked without noise.
    """
    d_expected = float(terms[expected].distance()[0])
    holds, closest, closest_gap, closest_noise = 0.0, expected, -math.inf, float("nan")
    exact, shared = True, len(terms[expected].genes)
    for other, t in terms.items():
        if other == expected:
            continue
        genes = sorted(set(terms[expected].genes) & set(t.genes))
        weights = gene_resamples(len(genes), rules.resamples, rules.seed)
        mine, theirs = terms[expected].restrict(genes), t.restrict(genes)
        with np.errstate(invalid="ignore"):  # inf - inf: no distance to compare, no evidence
            gap = float(mine.distance()[0] - theirs.distance()[0])
            spread = mine.distance(weights) - theirs.distance(weights)
        if math.isnan(gap):
            gap = math.inf
        noise = _spread(spread, len(genes))
        shared = min(shared, len(genes))
        exact = exact and _deterministic(current[model], current[other], genes)
        holds += _noisy_p(gap, 0.0, noise, len(genes))[1]  # evidence that the true gap is < 0
        if closest == expected or gap > closest_gap:
            closest, closest_gap, closest_noise = other, gap, noise
    how = (
        f"closest relative is still {expected!r} (distance {_fmt(max(d_expected, 0.0))}); the "
        f"next, {closest!r}, is {_fmt(-closest_gap)} ± {_fmt(closest_noise)} farther"
    )
    details = {"expected": expected, "found": expected, "runner_up": closest, "genes": shared}
    if exact:  # no sampling noise: the ranking itself decides (a tie is no closest relative)
        outcome: Outcome = "pass" if closest_gap < 0 else "fail"
        return Verdict(
            "nearest relative", model, outcome, closest_gap, 0.0, closest_noise, None, None,
            how + ("" if outcome == "pass" else " (a tie: exact distributions)"), details,
        )  # fmt: skip
    return Verdict(
        "nearest relative", model, "pass", closest_gap, 0.0, closest_noise, None, None, how,
        details, min(1.0, holds),
    )  # fmt: skip


def _tree_verdict(baseline: TreeSide, current: TreeSide, rules: Rules) -> Verdict:
    strong_base = {s for s in baseline.splits if baseline.supports.get(s, 0.0) >= rules.min_support}
    strong_now = {s for s in current.splits if current.supports.get(s, 0.0) >= rules.min_support}
    lost = sorted(sorted(s) for s in strong_base - current.splits)
    new = sorted(sorted(s) for s in strong_now - baseline.splits)
    count = len(lost) + len(new)
    assert rules.max_rf is not None
    outcome: Outcome = "pass" if count <= rules.max_rf else "fail"
    how = (
        f"{count} split(s) with bootstrap support >= {100 * rules.min_support:.0f}% differ between "
        f"the baseline tree and this run's ({len(lost)} lost, {len(new)} new); at most "
        f"{rules.max_rf} allowed"
    )
    return Verdict(
        "tree", "tree", outcome, float(count), float(rules.max_rf), float("nan"), None, None, how,
        {"lost": lost, "new": new},
    )  # fmt: skip


def _adjust(verdicts: list[Verdict], level: float) -> list[Verdict]:
    """Decide the noisy rules: broken, holding, or neither at the level (Holm within each family).

    A rule with a "broken" p-value fails when its adjusted p is below the level. One with a
    "holds" p-value too passes only when that adjusted p is below the level; otherwise it is
    inconclusive, and the explanation says what the data could have decided.
    """
    out = list(verdicts)
    broken = [i for i, v in enumerate(out) if v.p_value is not None]
    for i, q in zip(broken, holm([out[i].p_value or 0.0 for i in broken]), strict=True):
        out[i] = replace(out[i], adjusted_p=q, outcome="fail" if q < level else "pass")
    holding = [i for i, v in enumerate(out) if v.holds_p is not None]
    for i, q in zip(holding, holm([out[i].holds_p or 0.0 for i in holding]), strict=True):
        verdict = replace(out[i], holds_adjusted_p=q)
        if verdict.outcome == "pass" and q >= level:
            verdict = replace(
                verdict,
                outcome="inconclusive",
                explanation=_undecided(verdict, level, len(holding)),
            )
        out[i] = verdict
    return out


def _undecided(verdict: Verdict, level: float, tests: int) -> str:
    """Say why a rule is inconclusive, and what this much noise lets the check decide."""
    head = f"{verdict.explanation}; INCONCLUSIVE at level {level:g}: "
    genes = verdict.details.get("genes")
    if isinstance(genes, int) and genes < MIN_NOISY_GENES:
        return head + (
            f"{genes} genes are too few to decide a sampled rule (at least {MIN_NOISY_GENES}): "
            "collect more genes"
        )
    broken = _fmt(verdict.adjusted_p if verdict.adjusted_p is not None else 1.0)
    found = verdict.details.get("found")
    if found is not None and found != verdict.details.get("expected"):
        return head + (
            f"the closest relative changed, but not significantly (adjusted p={broken}): "
            "collect more genes to tell"
        )
    dof = genes - 1 if isinstance(genes, int) and genes > 1 else 1
    z = float(student_t.isf(level / max(tests, 1), dof))
    bound = verdict.threshold - z * verdict.noise
    return head + (
        f"the data show neither that the rule holds (adjusted p="
        f"{_fmt(verdict.holds_adjusted_p or 1.0)}) nor that it is broken (adjusted p={broken}); "
        f"with this noise it passes only at a value below {_fmt(bound)} ({z:.2f} s.e. under the "
        "limit): collect more genes"
    )


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "inf" if value > 0 else "n/a"
    return f"{value:.4g}"
