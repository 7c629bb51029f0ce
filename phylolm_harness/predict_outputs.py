"""Benchmark predictions from a results folder: CSV table, scatter plots, report section.

:func:`run_predict` is what ``phylolm-harness predict`` runs once the PhyloLM distances of the
models are known: it reads the real scores (:mod:`phylolm_harness.benchmark_scores`), predicts
every benchmark (:mod:`phylolm_harness.predict`) and writes

- ``predictions.csv``: one row per model and benchmark;
- ``predictions_<benchmark>.png``: predicted against real scores, per protocol;

and returns a Markdown section for ``report.md``. Files are written all at once, atomically
(:func:`phylolm_harness.outputs.write_outputs`), and are byte-identical for identical inputs.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from phylolm_harness.benchmark_scores import read_benchmark_scores, read_families
from phylolm_harness.errors import InputError
from phylolm_harness.outputs import write_outputs
from phylolm_harness.predict import (
    PROTOCOLS,
    Evaluation,
    Predictions,
    cross_validate,
    families_from_tree,
    predict_scores,
)

__all__ = [
    "DEFAULT_BENCHMARKS",
    "PAPER_ANCHOR",
    "plot_predictions",
    "prediction_rows",
    "report_section",
    "run_predict",
    "predictions_csv",
]

DEFAULT_BENCHMARKS = ("mmlu", "arc_challenge")
"""Benchmarks looked for when none is named (those present in the results are used)."""

PAPER_ANCHOR = (
    "For reference, the PhyloLM paper reports a pooled Pearson r = 0.82 on ARC-Challenge "
    "(acc_norm) from the math genome under leave-one-family-out (about 97 models, 9 families), "
    "with predictions compressed toward the middle of the score range."
)

CSV_COLUMNS = (
    "model",
    "benchmark",
    "family",
    "real",
    "predicted",
    "held_out",
    "method",
    "protocol",
)


def _fmt(x: float) -> str:
    return "" if not math.isfinite(x) else f"{x:.6f}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "benchmark"


def prediction_rows(preds: Predictions) -> list[dict[str, str]]:
    """Rows of ``predictions.csv`` for one benchmark.

    Parameters
    ----------
    preds : Predictions
        Result of :func:`phylolm_harness.predict.predict_scores`.

    Returns
    -------
    list of dict
        One row per model: ``real`` is empty for unscored models; ``held_out`` is ``true``
        where the prediction was made without the model's own score (cross-validated, under
        ``protocol``) and ``false`` for unscored models, predicted by the predictor fitted on
        every scored model; ``method`` is the predictor actually used.
    """
    main = preds.evaluation(preds.protocol)
    rows = []
    for i, model in enumerate(preds.labels):
        scored = math.isfinite(preds.real[i])
        rows.append(
            {
                "model": model,
                "benchmark": preds.benchmark,
                "family": preds.families.get(model, ""),
                "real": _fmt(float(preds.real[i])),
                "predicted": _fmt(float(preds.predicted[i])),
                "held_out": "true" if preds.held_out[i] else "false",
                "method": main.chosen if scored else preds.chosen,
                "protocol": preds.protocol if scored else "fitted on all scored models",
            }
        )
    return rows


def predictions_csv(all_preds: Sequence[Predictions]) -> bytes:
    """Content of ``predictions.csv`` for several benchmarks.

    Parameters
    ----------
    all_preds : sequence of Predictions
        One entry per benchmark.

    Returns
    -------
    bytes
        UTF-8 CSV with the columns of :data:`CSV_COLUMNS`.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for preds in all_preds:
        writer.writerows(prediction_rows(preds))
    return buffer.getvalue().encode("utf-8")


def plot_predictions(preds: Predictions) -> bytes:
    """Scatter predicted against real scores, one panel per evaluation protocol.

    Parameters
    ----------
    preds : Predictions
        Predictions of one benchmark.

    Returns
    -------
    bytes
        PNG image (no time stamp inside: identical inputs give identical bytes).
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    evals = [preds.evaluation(p) for p in PROTOCOLS]
    fig = Figure(figsize=(5.0 * len(evals), 4.6), layout="constrained")
    axes = fig.subplots(1, len(evals), squeeze=False)[0]
    families = sorted({preds.families.get(m, "") for m in preds.labels})
    colours = {f: f"C{i % 10}" for i, f in enumerate(families)}
    for ax, ev in zip(axes, evals, strict=True):
        ax.plot([0, 1], [0, 1], color="0.7", linewidth=1, zorder=0)
        ok = np.isfinite(ev.predicted)
        for family in families:
            mask = ok & np.array([preds.families.get(m, "") == family for m in ev.labels])
            if mask.any():
                ax.scatter(
                    ev.real[mask],
                    ev.predicted[mask],
                    s=22,
                    color=colours[family],
                    label=family or "(none)",
                )
        ax.set_xlabel("real score")
        ax.set_ylabel("predicted score")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        stats = (
            f"r = {_num(ev.r)}, MAE = {_num(ev.mae)}, n = {len(ev.real)}"
            if not ev.note
            else ev.note
        )
        ax.set_title(f"{preds.benchmark}: {ev.protocol}\n{stats}\n{ev.chosen}", fontsize=8)
        if len(families) <= 12:
            ax.legend(fontsize=7, loc="upper left", title="family", title_fontsize=7)
    fig.suptitle(f"predictor: {preds.method}", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def _num(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _row(bench: str, name: str, ev: Evaluation) -> str:
    if ev.note:
        return f"| {bench} | {name} | {ev.protocol} | {len(ev.real)} | {ev.n_folds} | n/a | n/a |"
    return (
        f"| {bench} | {name} | {ev.protocol} | {len(ev.real)} | {ev.n_folds} "
        f"| {_num(ev.r)} | {_num(ev.mae)} |"
    )


def report_section(
    all_preds: Sequence[Predictions],
    references: Mapping[str, Sequence[Evaluation]],
    families_source: str,
    notes: Sequence[str] = (),
    figures: Mapping[str, str] | None = None,
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

    Returns
    -------
    str
        The section, starting with a ``##`` heading.
    """
    lines = [
        "## Benchmark prediction",
        "",
        "Scores predicted from the PhyloLM distances alone. Each scored model is predicted "
        "without its own score (leave-one-out) and without its whole family "
        "(leave-one-family-out); Pearson r and mean absolute error (MAE) pool all held-out "
        f"predictions. Families: {families_source}.",
        "",
        "| benchmark | predictor | protocol | n | folds | Pearson r | MAE |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for preds in all_preds:
        for ev in preds.evaluations:
            lines.append(_row(preds.benchmark, f"{preds.method}: {ev.chosen or '-'}", ev))
        for ev in references.get(preds.benchmark, ()):
            lines.append(_row(preds.benchmark, "paper (reference)", ev))
    lines.append("")
    for preds in all_preds:
        unscored = [m for i, m in enumerate(preds.labels) if not math.isfinite(preds.real[i])]
        text = f"- **{preds.benchmark}**: {len(preds.labels) - len(unscored)} models scored"
        if unscored:
            text += f"; {len(unscored)} predicted with {preds.chosen}"
        if figures and preds.benchmark in figures:
            text += f"; figure `{figures[preds.benchmark]}`"
        lines.append(text + ".")
    lines += [f"- {note}" for note in notes]
    lines += ["", PAPER_ANCHOR, ""]
    return "\n".join(lines)


def run_predict(
    results_dir: Path,
    out_dir: Path,
    benchmarks: Sequence[str],
    families_file: Path | None,
    method: str,
    distances: NDArray[np.float64],
    labels: Sequence[str],
    rename: Mapping[str, str] | None = None,
) -> str:
    """Predict benchmark scores of every model and write the outputs.

    Parameters
    ----------
    results_dir : Path
        lm-eval output folder with the benchmark runs (``results_*.json``).
    out_dir : Path
        Where ``predictions.csv`` and the figures go.
    benchmarks : sequence of str
        ``task`` or ``task:metric``; empty means those of :data:`DEFAULT_BENCHMARKS` that some
        model ran.
    families_file : Path or None
        ``model,family`` CSV; ``None`` uses clades of the UPGMA tree of ``distances``.
    method : {"auto", "paper", "kernel", "knn"}
        Predictor.
    distances : ndarray
        ``(n, n)`` PhyloLM distances of the models in ``labels``.
    labels : sequence of str
        Model labels, as :func:`phylolm_harness.harness_results.read_observations` gives them.
    rename : Mapping[str, str], optional
        The label overrides given to ``read_observations``, applied to the results files too.

    Returns
    -------
    str
        Markdown section for the report.

    Raises
    ------
    InputError
        Bad results or families file, a benchmark run by fewer than 2 models, scores of models
        with no population, and the other checks of ``predict_scores``.
    """
    wanted = list(benchmarks) or list(DEFAULT_BENCHMARKS)
    found = read_benchmark_scores(results_dir, wanted, rename)
    notes = list(found.notes)
    if not benchmarks:
        present = [b for b in wanted if found.scores[b]]
        if not present:
            raise InputError(
                f"{results_dir}: no results for {' or '.join(wanted)}; name benchmarks with "
                "--benchmark TASK[:METRIC]"
            )
        wanted = present
    if families_file is not None:
        families = read_families(families_file)
        source = f"`{families_file.name}`"
    else:
        families = families_from_tree(np.asarray(distances, dtype=np.float64), labels)
        n_fam = len(set(families.values()))
        source = f"{n_fam} clades of the UPGMA tree (no families file given)"
    all_preds: list[Predictions] = []
    references: dict[str, list[Evaluation]] = {}
    figures: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for bench in wanted:
        preds = predict_scores(
            distances, labels, found.scores[bench], families, method, benchmark=bench
        )
        all_preds.append(preds)
        if method != "paper":
            scored = np.array([i for i, m in enumerate(labels) if m in found.scores[bench]])
            sub = np.ix_(scored, scored)
            groups = np.unique([families[labels[i]] for i in scored], return_inverse=True)[1]
            references[bench] = [
                cross_validate(
                    np.asarray(distances, dtype=np.float64)[sub],
                    preds.real[scored],
                    groups.astype(np.int64),
                    "paper",
                    protocol,
                    [labels[i] for i in scored],
                )
                for protocol in PROTOCOLS
            ]
        figure = f"predictions_{_slug(bench)}.png"
        if figure in files:
            raise InputError(f"benchmarks {bench} and another share the figure name {figure}")
        files[figure] = plot_predictions(preds)
        figures[bench] = figure
    files["predictions.csv"] = predictions_csv(all_preds)
    write_outputs(Path(out_dir), files)
    return report_section(all_preds, references, source, notes, figures)
