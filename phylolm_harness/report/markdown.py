"""Markdown: the tree report (``report.md``) and its benchmark prediction section."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.core.crossval import OUTER_FOLDS, Evaluation
from phylolm_harness.core.phylogeny import Phylogeny
from phylolm_harness.core.plan import Plan
from phylolm_harness.core.predict import Predictions
from phylolm_harness.core.subsample import NAME as SUBSET
from phylolm_harness.core.subsample import QUESTIONS
from phylolm_harness.core.tree import NJ_MAX_TAXA
from phylolm_harness.io.runs import Identity
from phylolm_harness.report.tables import TEXT_TABLES_MAX_MODELS, cell, number
from phylolm_harness.report.trust import likeness_text, supports_section

__all__ = [
    "PAPER_ANCHOR",
    "identities_section",
    "method_name",
    "plan_section",
    "prediction_section",
    "render_report",
]


def render_report(
    phylogeny: Phylogeny, notes: Sequence[str] = (), sections: Sequence[str] = ()
) -> str:
    """Markdown report: what was compared, how, extra sections, and how to read the result."""
    pops = phylogeny.populations
    n_genes = len(pops.genes)
    lines = ["# PhyloLM report", ""]
    genomes = ", ".join(f"`{name}` ({fp[:19]}…)" for name, fp in pops.genomes)
    lines += [
        f"- **Models**: {len(pops.models)}",
        f"- **Genomes**: {genomes}; {n_genes} genes in all",
        f"- **Distance**: {_distance_text(phylogeny)}",
        f"- **Tree**: {_tree_text(phylogeny)}",
        f"- **Coverage**: {_coverage_text(phylogeny)}",
    ]
    if phylogeny.fit is not None:
        lines.append(f"- **Tree-likeness**: {likeness_text(phylogeny.fit, phylogeny.labels)}")
    if phylogeny.clipped:
        lines.append(
            f"- {phylogeny.clipped} pair(s) had an estimated similarity above 1 (sampling noise "
            "around identical models) and were set to 1 (distance 0)."
        )
    if phylogeny.resample_note:
        lines.append(f"- Resampling: {phylogeny.resample_note}.")
    if phylogeny.tree is None:
        lines += ["", f"**No tree**: {phylogeny.why_no_tree}. The matrices are still written."]
    lines += ["", "## Models", ""]
    lines += [
        "| model | probes per gene | genes observed | closest relative | distance ± s.e. |",
        "|---|---|---|---|---|",
    ]
    observed = pops.observed.sum(axis=1).tolist()
    for i, model in enumerate(pops.models):
        lines.append(
            f"| {cell(model)} | {_probes_text(pops.probes[i], pops.tail[i], pops.sampled[i])} | "
            f"{observed[i]}/{n_genes} | {_closest(phylogeny, i)} |"
        )
    if phylogeny.fit is not None and len(phylogeny.fit.splits):
        lines += ["", *supports_section(phylogeny.fit, phylogeny.supports, phylogeny.labels)]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    for section in sections:
        lines += ["", section.strip()]
    lines += ["", "## How to read this", "", _distances_guide(phylogeny), *_READING_GUIDE]
    if len(phylogeny.labels) > TEXT_TABLES_MAX_MODELS:
        lines.append(
            f"- Past {TEXT_TABLES_MAX_MODELS} models, `distances`, `similarity`, "
            "`distance_errors` and `shared_genes` are NumPy files (`.npy`, read with `numpy.load`) "
            "rather than CSV, rows and columns in the order of `models.csv`; `shared_genes.npy` "
            "holds integers, and `distance_errors.npy` is written only when genes were resampled."
        )
    return "\n".join(lines) + "\n"


def _distances_guide(phylogeny: Phylogeny) -> str:
    what = "Nei's distance `D = -ln S`" if phylogeny.distance == "nei" else "`D_A = 1 - S`"
    return (
        f"- `distances.csv` (`distances.npy` past {TEXT_TABLES_MAX_MODELS} models) holds {what} "
        "between every pair of models; 0 means the models answer the genes with the same allele "
        "distributions. `similarity.csv` holds `S`."
    )


_READING_GUIDE = [
    "- `distance_errors.csv` holds the standard error of each distance from resampling genes: "
    "differences smaller than about twice it are within noise.",
    "- In `tree.png`, models joined by short branches are close relatives (fine-tunes, quantized "
    "copies). Neighbour-Joining trees are unrooted: the drawing roots them at the midpoint, "
    "so read "
    "the groupings, not the left-to-right order or the position of the root.",
    "- `tree.nwk` is the same tree in Newick format, for other tools.",
    "- `tree.html` is the same tree to open in a browser (offline, one file): search models by "
    "name, click a node to fold its clade, hover a model for its distances to the one searched "
    "or clicked and its nearest relative.",
    "- `pairs.npy` and `pairs.json` keep the models' cross products: a later tree written to this "
    "folder with more models computes only the pairs with the new ones.",
    "- `populations.parquet` holds every model's alleles (Parquet; `pandas.read_parquet` reads "
    "it); pass it to `tree --populations` to merge collections made on other machines.",
    "- `heatmap.png` shows the distances in tree order: blocks along the diagonal are families.",
]


def identities_section(identities: Mapping[str, Identity]) -> str:
    """Markdown table: what every label stands for (lm-eval model name and run settings)."""
    lines = [
        "## Runs",
        "",
        "Runs of one model name with different settings are different populations; their labels "
        "name the settings that differ.",
        "",
        "| model | lm-eval model | backend | mode | temperature | chat template | weights |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, identity in sorted(identities.items()):
        c = identity.collection
        weights = ", ".join(f"{k}={v}" for k, v in sorted(identity.weights.items())) or "–"
        lines.append(
            f"| {cell(label)} | {cell(identity.model_name)} | {cell(c['backend'])} | "
            f"{c['mode']} | {cell(c['temperature'])} | {c['chat']} | {cell(weights)} |"
        )
    return "\n".join(lines) + "\n"


def _coverage_text(phylogeny: Phylogeny) -> str:
    n_genes = len(phylogeny.populations.genes)
    shared = phylogeny.shared_genes
    pairs = [row[i + 1 :] for i, row in enumerate(shared[:-1])]  # above the diagonal, no copy
    low = int(min(map(np.min, pairs))) if pairs else n_genes
    if low == n_genes:
        return f"every pair of models is compared on all {n_genes} genes"
    high = int(max(map(np.max, pairs)))
    table = "shared_genes.csv" if len(shared) <= TEXT_TABLES_MAX_MODELS else "shared_genes.npy"
    return (
        f"pairs of models are compared on the genes both were observed on: {low} "
        f"to {high} of {n_genes} (`{table}`)"
    )


def _closest(phylogeny: Phylogeny, i: int) -> str:
    n = len(phylogeny.labels)
    if n < 2:
        return "– | –"
    row = phylogeny.distances[i].copy()
    row[i] = np.inf
    j = int(np.argmin(row))
    error = phylogeny.standard_errors[i, j]
    error_text = f" ± {error:.4f}" if np.isfinite(error) else ""
    return f"{cell(phylogeny.labels[j])} | {row[j]:.4f}{error_text}"


def _probes_text(
    probes: NDArray[np.float64], tail: NDArray[np.float64], sampled: NDArray[np.float64]
) -> str:
    seen = probes[probes > 0]
    if seen.size and np.all(np.isinf(seen)):
        drawn = sampled[probes > 0].mean()
        by_draws = f", {drawn:.3f} sampled by draws" if drawn > 0 else ""
        return f"exact (mean tail {tail[probes > 0].mean():.3f}{by_draws})"
    finite = seen[np.isfinite(seen)]
    low, high = int(finite.min()), int(finite.max())
    text = str(low) if low == high else f"{low}–{high}"
    return text + (" + exact" if finite.size < seen.size else "")


def _distance_text(phylogeny: Phylogeny) -> str:
    if phylogeny.distance == "da":
        return (
            "Nei's `D_A` (Nei, Tajima & Tateno 1983): `1 - S`, `S` the mean over shared genes of "
            "`Σ_a sqrt(P_i(a) P_j(a))`, every gene weighing the same"
        )
    if phylogeny.estimator == "unbiased":
        within = "Nei's (1978) unbiased within-model term for sampled genes"
    else:
        within = "plug-in within-model term (as in the PhyloLM paper)"
    return f"Nei's standard distance `-ln S`, identity summed over genes, {within}"


def _tree_text(phylogeny: Phylogeny) -> str:
    if phylogeny.tree is None:
        return "none"
    if phylogeny.method != "bme":
        return method_name(phylogeny)
    return (
        f"{method_name(phylogeny)}; Neighbour-Joining takes cubic time, so `--method auto` uses it "
        f"up to {NJ_MAX_TAXA} models and this method beyond (both give the same tree on additive "
        "distances)"
    )


def method_name(phylogeny: Phylogeny) -> str:
    """Name of the tree-building method, in words."""
    return {
        "nj": "Neighbour-Joining",
        "upgma": "UPGMA",
        "bme": "balanced minimum evolution (scikit-bio's `bme`)",
    }[phylogeny.method]


PAPER_ANCHOR = (
    "For reference, the PhyloLM paper reports a pooled Pearson r = 0.82 on ARC-Challenge "
    "(acc_norm) from the math genome under leave-one-family-out (about 97 models, 9 families), "
    "with predictions compressed toward the middle of the score range."
)


def _row(bench: str, name: str, ev: Evaluation) -> str:
    head = f"| {bench} | {name} | {ev.protocol} | {len(ev.real)} | {ev.n_folds} "
    if ev.note:
        return head + "| n/a | n/a | n/a | n/a |"
    return (
        head + f"| {number(ev.r)} | {number(ev.mae)} | {number(ev.coverage)} | {number(ev.width)} |"
    )


def _against_baselines(benchmark: str, ev: Evaluation, predictor: str) -> list[str]:
    """Say plainly where a predictor does no better than the mean of the others, or the questions.

    And, where the predictor chose among candidates, which it chose in how many folds.
    """
    out = []
    maes = {name: mae for name, _, mae in ev.baselines}
    mean = maes.get("mean of the others")
    if mean is not None and math.isfinite(ev.mae) and ev.mae >= mean:
        out.append(
            f"- **{benchmark}, {ev.protocol}, {predictor}: the tree adds nothing here.** "
            f"Predicting the mean of the other scored models does as well or better (MAE "
            f"{number(mean)}; {predictor}: {number(ev.mae)})."
        )
    subset = maes.get(SUBSET)
    if subset is not None and math.isfinite(ev.mae) and subset < ev.mae:
        out.append(
            f"- **{benchmark}, {ev.protocol}, {predictor}: {QUESTIONS} random questions do "
            f"better.** Scoring a new model on them and regressing predicts with MAE "
            f"{number(subset)} ({predictor}: {number(ev.mae)})."
        )
    if len(ev.choices) > 1:
        picks = ", ".join(f"{name} in {count}" for name, count in ev.choices)
        out.append(
            f"- {benchmark}, {ev.protocol}: {ev.method} chose {picks} of {ev.n_folds} folds."
        )
    return out


def prediction_section(
    all_preds: Sequence[Predictions],
    references: Mapping[str, Sequence[Evaluation]],
    families_source: str,
    notes: Sequence[str] = (),
    figures: Mapping[str, str] | None = None,
    definitions: Mapping[str, str] | None = None,
) -> str:
    """Markdown section on benchmark prediction for ``report.md``.

    Parameters
    ----------
    all_preds : sequence of Predictions
        One entry per benchmark.
    references : Mapping[str, sequence of Evaluation]
        Benchmark -> evaluations of the paper's reference predictor, shown for comparison when
        another method was used.
    families_source : str
        Where the families came from, in words.
    notes : sequence of str
        Remarks to list (older runs ignored, ...).
    figures : Mapping[str, str], optional
        Benchmark -> figure file name, linked from the section.
    definitions : Mapping[str, str], optional
        Benchmark -> what its score is (which MMLU average).

    Returns
    -------
    str
        The section, starting with a ``##`` heading.
    """
    level = all_preds[0].level if all_preds else 0.9
    lines = [
        "## Benchmark prediction",
        "",
        "Scores predicted from the PhyloLM distances alone. Each scored model is predicted "
        "without its own score (leave-one-out) and without its whole family "
        "(leave-one-family-out); Pearson r and mean absolute error (MAE) pool all held-out "
        f"predictions. Families: {families_source}. Every prediction has a split-conformal "
        f"interval at {level:.0%} coverage (`lower`, `upper` in `predictions.csv`); *coverage* "
        "is the share of real scores that fell inside their interval when each was calibrated "
        "without its whole fold (not measurable when every fold holds one model, where the "
        "ranks fix it), *width* the intervals' mean width. Past "
        f"{OUTER_FOLDS} scored models (or families), they are dealt into {OUTER_FOLDS} folds, "
        "whole families together, and each model is predicted without its fold (*folds*).",
        "",
        "| benchmark | predictor | protocol | n | folds | Pearson r | MAE | coverage | width |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts: list[str] = []
    for preds in all_preds:
        for ev in preds.evaluations:
            lines.append(_row(preds.benchmark, f"{preds.method}: {ev.chosen or '-'}", ev))
        for ev in references.get(preds.benchmark, ()):
            lines.append(_row(preds.benchmark, "paper (reference)", ev))
        for ev in preds.evaluations:
            for name, r, mae in ev.baselines:
                lines.append(
                    f"| {preds.benchmark} | baseline: {name} | {ev.protocol} | {len(ev.real)} "
                    f"| {ev.n_folds} | {number(r)} | {number(mae)} | – | – |"
                )
            verdicts += _against_baselines(preds.benchmark, ev, preds.method)
        for ev in references.get(preds.benchmark, ()):
            verdicts += _against_baselines(preds.benchmark, ev, "paper (reference)")
    lines.append("")
    lines += verdicts
    for preds in all_preds:
        unscored = [m for i, m in enumerate(preds.labels) if not math.isfinite(preds.real[i])]
        text = f"- **{preds.benchmark}**: {len(preds.labels) - len(unscored)} models scored"
        if unscored:
            text += f"; {len(unscored)} predicted with {preds.chosen}"
        if figures and preds.benchmark in figures:
            text += f"; figure `{figures[preds.benchmark]}`"
        if definitions and preds.benchmark in definitions:
            text += f"; score: {definitions[preds.benchmark]}"
        if preds.bounds is None:
            text += "; unbounded metric: predicted on its own scale, not clipped"
        else:
            text += f"; bounded in [{preds.bounds[0]:g}, {preds.bounds[1]:g}]"
        lines.append(text + ".")
    lines += [f"- {note}" for note in notes]
    lines += ["", PAPER_ANCHOR, ""]
    return "\n".join(lines)


def plan_section(plan: Plan) -> str:
    """Markdown section listing the models proposed for real benchmark runs.

    Parameters
    ----------
    plan : Plan
        From :func:`phylolm_harness.core.plan.plan_runs`.

    Returns
    -------
    str
        The section, starting with a ``##`` heading.
    """
    lines = [
        "## Which models to run the benchmarks on",
        "",
        "Chosen from the tree alone: each model in turn is the one whose real score would most "
        "reduce the uncertainty left on every model's predicted score (a Gaussian process with "
        "the kernel exp(-D / median D)). *Uncertainty left* is the summed predictive variance "
        "after running the models up to that row, as a share of the variance before the plan.",
    ]
    if plan.scored:
        lines.append(f"Models already scored (taken as known): {', '.join(plan.scored)}.")
    lines += ["", "| rank | model | uncertainty left |", "|---:|---|---:|"]
    for rank, (model, left) in enumerate(zip(plan.chosen, plan.remaining, strict=True), 1):
        lines.append(f"| {rank} | {model} | {left:.1%} |")
    return "\n".join([*lines, ""])
