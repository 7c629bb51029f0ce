"""How far to trust a tree: its δ-score, and the support and concordance of each split."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from phylolm_harness.core.support import Supports
from phylolm_harness.core.treelikeness import (
    UNTRUSTED_DELTA,
    WEAK_BRANCH_DELTA,
    WEAK_CONCORDANCE,
    WEAK_SUPPORT,
    TreeFit,
)
from phylolm_harness.report.tables import cell

__all__ = ["likeness_text", "supports_section"]


MAX_SPLITS_LISTED = 60
"""Splits listed in the report's branch support table (the weakest first)."""


def supports_section(
    fit: TreeFit, supports: Supports | None, labels: Sequence[str], resampled: str = "genes"
) -> list[str]:
    """Markdown lines of the report's branch support section (the weakest splits first).

    ``resampled`` names what the bootstrap resampled (``"genes"``, ``"probes"``).
    """
    n = len(labels)
    names = np.asarray(labels, dtype=object)
    found = supports.lookup() if supports is not None else {}
    rows = []
    for split, concordance, delta in zip(
        fit.splits, fit.concordance, fit.branch_delta, strict=True
    ):
        boot, transfer = found.get(frozenset(names[split].tolist()), (math.nan, math.nan))
        side = split if split.sum() <= n - split.sum() else ~split
        members = sorted(names[side].tolist())
        weak = fit.weak(boot, concordance, delta)
        shown_boot = boot if math.isfinite(boot) else 2.0
        rows.append((not weak, shown_boot, concordance, members, transfer, delta))
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    unit = resampled.removesuffix("s")
    if supports is not None:
        how = (
            f"Its **{unit}-resampling support** is the share of {supports.resamples} "
            f"trees, built on {resampled} resampled with replacement, that contain the same split "
            "(the transfer support, Lemoine et al. 2018, also gives credit to near matches). It "
            f"measures how much the tree moves with the choice of {resampled}, not whether the "
            "grouping "
            "is true: models that converged (say, last fine-tuned on the same kind of text) are "
            "grouped on every resample. "
        )
    else:
        how = f"{resampled.capitalize()} were not resampled, so there are no bootstrap supports. "
    lines = [
        "## Branch support",
        "",
        "Each internal branch splits the models in two. "
        + how
        + "The branch joins four subtrees; of the quartets of models with one in each, its "
        "**quartet concordance** is the share whose distances pair them as the branch does (1: "
        "all agree; about 0.33: the distances do not favour it), and its **branch δ** their mean "
        "δ-score (0: they fit a tree; high inside a group of models that converged, where "
        "groupings follow the last kind of training text rather than ancestry). A split is weak "
        f"below {WEAK_SUPPORT:.0%} support or {WEAK_CONCORDANCE:.2f} concordance, or above "
        f"{WEAK_BRANCH_DELTA:.2f} branch δ, and every split is weak when the δ-score of the whole "
        f"matrix is above {UNTRUSTED_DELTA}; weak splits are red on `tree.png` and `tree.html`. "
        f"How often clades shown strong were right on known lineages: {CALIBRATION_LINK}.",
        "",
        "| models on the smaller side | bootstrap | transfer | quartet concordance | branch δ | |",
        "|---|---|---|---|---|---|",
    ]
    for strong, boot, concordance, members, transfer, delta in rows[:MAX_SPLITS_LISTED]:
        shown = ", ".join(cell(m) for m in members[:8])
        if len(members) > 8:
            shown += f" and {len(members) - 8} more"
        lines.append(
            f"| {shown} | {_percent(boot)} | {_percent(transfer)} | {concordance:.2f} | "
            f"{delta:.2f} | {'' if strong else 'weak'} |"
        )
    if len(rows) > MAX_SPLITS_LISTED:
        lines.append(f"\n{len(rows) - MAX_SPLITS_LISTED} better supported splits not listed.")
    return lines


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%" if 0 <= value <= 1 else "–"


CALIBRATION_LINK = "`benchmarks/results/lineages.md` in the source tree (the lineage benchmark)"


def likeness_text(fit: TreeFit, labels: Sequence[str]) -> str:
    """Return the report's tree-likeness line: δ-score, meaning, least tree-like models."""
    likeness = fit.likeness
    text = (
        f"δ = {likeness.delta:.3f} over {likeness.quartets} quartets of models (0 when the "
        "distances fit a tree exactly; Holland et al. 2002)"
    )
    if likeness.delta > UNTRUSTED_DELTA:
        text += (
            f". **Above {UNTRUSTED_DELTA}, the distances fit no tree well**: the models converged "
            "or mixed (fine-tunes on the same kind of text, merges): read families from the "
            "tree, not which model was fine-tuned from which, and every split is marked weak"
        )
    worst = np.argsort(-np.nan_to_num(likeness.per_model, nan=-1.0), kind="stable")[:3]
    if likeness.delta > 0 and len(labels) > 4:
        named = ", ".join(f"{cell(labels[i])} ({likeness.per_model[i]:.2f})" for i in worst)
        text += f"; least tree-like models: {named}"
    return text
