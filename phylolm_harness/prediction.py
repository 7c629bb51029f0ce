"""The ``predict`` command as functions: read the scores, predict them from the tree, plan runs.

:func:`read_scores` is cheap and runs before the tree, so that a wrong benchmark name fails at
once; :func:`predict` takes the :class:`~phylolm_harness.pipeline.TreeResult` of
:func:`phylolm_harness.pipeline.tree` and returns what to write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phylolm_harness.core.conformal import DEFAULT_LEVEL
from phylolm_harness.core.crossval import Evaluation
from phylolm_harness.core.families import families_from_tree
from phylolm_harness.core.plan import Plan, plan_runs
from phylolm_harness.core.predict import (
    Predictions,
    paper_reference,
    predict_scores,
    score_bounds,
)
from phylolm_harness.core.subsample import QuestionScores
from phylolm_harness.errors import InputError
from phylolm_harness.io.benchmark_scores import (
    BenchmarkScores,
    parse_benchmark,
    read_benchmark_scores,
)
from phylolm_harness.io.files import Content
from phylolm_harness.io.runs import Results, named
from phylolm_harness.io.tables import read_families
from phylolm_harness.pipeline import DEFAULT_BENCHMARKS, TreeResult, tree_files
from phylolm_harness.report.markdown import plan_section, prediction_section
from phylolm_harness.report.outputs import figures_of, render_prediction_outputs

__all__ = ["PredictResult", "predict", "read_scores"]


@dataclass(frozen=True)
class PredictResult:
    """What ``predict`` found: the tree and the predictions of every benchmark."""

    tree: TreeResult
    predictions: tuple[Predictions, ...]
    references: Mapping[str, Sequence[Evaluation]]
    """Benchmark -> the paper's reference predictor, evaluated for comparison."""
    families_source: str
    notes: tuple[str, ...] = ()
    definitions: Mapping[str, str] = field(default_factory=dict)
    """Benchmark -> what its score is (which MMLU average)."""
    plan: Plan | None = None
    """The models proposed for real benchmark runs (``--plan K``)."""

    def files(self) -> dict[str, Content]:
        """Every output of ``tree`` (its report with a prediction section) and the predictions."""
        sections = []
        if self.predictions:
            sections.append(
                prediction_section(
                    self.predictions,
                    self.references,
                    self.families_source,
                    self.notes,
                    figures_of(self.predictions),
                    self.definitions,
                )
            )
        if self.plan is not None:
            sections.append(plan_section(self.plan))
        files = tree_files(self.tree, sections)
        files.update(render_prediction_outputs(self.predictions, self.plan))
        return files


def read_scores(
    results_dir: Results,
    benchmarks: Sequence[str] = (),
    *,
    rename: Mapping[str, str] | None = None,
    mmlu_average: str = "subjects",
    required: bool = True,
) -> BenchmarkScores:
    """Read the benchmark scores of a results folder: cheap, so done before the tree.

    Parameters
    ----------
    results_dir : Path or sequence of Path
        lm-eval output folder(s) with the benchmark runs (``results_*.json``).
    benchmarks : sequence of str
        ``task`` or ``task:metric``; empty means those of :data:`DEFAULT_BENCHMARKS` that some
        model ran.
    rename : mapping, optional
        Label overrides, as for :func:`phylolm_harness.pipeline.tree`.
    mmlu_average : {"subjects", "questions"}
        Which MMLU score, see :mod:`phylolm_harness.io.mmlu`.
    required : bool
        Raise when none of the default benchmarks is found (not needed for a plan alone).

    Returns
    -------
    BenchmarkScores
        Only the benchmarks to predict.
    """
    wanted = list(benchmarks) or list(DEFAULT_BENCHMARKS)
    scores = read_benchmark_scores(results_dir, wanted, rename, mmlu_average=mmlu_average)
    if benchmarks:
        return scores
    wanted = [b for b in wanted if scores.scores[b]]
    if not wanted and required:
        raise InputError(
            f"{named(results_dir)}: no results for {' or '.join(DEFAULT_BENCHMARKS)}; name "
            "benchmarks with --benchmark TASK[:METRIC]"
        )
    return BenchmarkScores(
        {b: scores.scores[b] for b in wanted},
        {b: scores.sources[b] for b in wanted},
        scores.notes,
        {b: scores.weights.get(b, {}) for b in wanted},
        {b: scores.definitions[b] for b in wanted},
        {b: scores.questions[b] for b in wanted if b in scores.questions},
    )


def predict(
    found: TreeResult,
    results_dir: Results,
    benchmarks: Sequence[str] = (),
    *,
    families_file: Path | None = None,
    predictor: str = "auto",
    mmlu_average: str = "subjects",
    level: float = DEFAULT_LEVEL,
    plan: int = 0,
    scores: BenchmarkScores | None = None,
) -> PredictResult:
    """Predict benchmark scores of every model of a tree from its distances.

    Parameters
    ----------
    found : TreeResult
        From :func:`phylolm_harness.pipeline.tree`; its label overrides apply to the benchmark
        runs too.
    results_dir, benchmarks, mmlu_average
        Where the scores are and which, as for :func:`read_scores` (unless ``scores`` is given).
    families_file : Path, optional
        ``model,family`` CSV; by default clades of the UPGMA tree of the distances.
    predictor : {"auto", "paper", "kernel", "knn"}
        See :mod:`phylolm_harness.core.predict`.
    level : float
        Nominal coverage of the prediction intervals.
    plan : int
        When positive, also propose this many models to run the benchmarks on next.
    scores : BenchmarkScores, optional
        The scores, if already read with :func:`read_scores`.

    Returns
    -------
    PredictResult

    Raises
    ------
    InputError
        Bad results or families file, a benchmark run by fewer than 2 models, and the other
        checks of ``predict_scores`` and ``plan_runs``.
    """
    distances = found.phylogeny.distances
    labels = list(found.phylogeny.labels)
    if scores is None:
        scores = read_scores(
            results_dir, benchmarks, rename=found.rename, mmlu_average=mmlu_average,
            required=plan <= 0,
        )  # fmt: skip
    wanted = list(scores.scores)
    if families_file is not None:
        families = read_families(families_file)
        source = f"`{families_file.name}`"
    else:
        families = families_from_tree(np.asarray(distances, dtype=np.float64), labels)
        source = f"{len(set(families.values()))} clades of the UPGMA tree (no families file given)"
    all_preds = []
    references: dict[str, tuple[Evaluation, ...]] = {}
    notes = list(scores.notes)
    known: list[set[str]] = []
    for bench in wanted:
        real = _scores_of_populations(found, scores, bench, notes)
        known.append(set(real))
        if plan > 0 and len(real) < 2:
            notes.append(f"{bench}: {len(real)} model(s) scored: no predictions yet, only the plan")
            continue
        metric = parse_benchmark(bench).key.split(",")[0]
        bounds = score_bounds(bench, metric, real)
        preds = predict_scores(
            distances, labels, real, families, predictor, benchmark=bench, level=level,
            bounds=bounds, questions=_questions_of_populations(found, scores, bench, real, notes),
        )  # fmt: skip
        all_preds.append(preds)
        if predictor != "paper":
            references[bench] = paper_reference(distances, preds, families)
        far = [
            f"{m} ({preds.nearest_distance[i]:.3f} > {preds.limits[i]:.3f})"
            for i, m in enumerate(preds.labels)
            if preds.extrapolates[i]
        ]
        if far:
            notes.append(
                f"{bench}: predictions for {', '.join(far)} extrapolate: the nearest scored model "
                "they were predicted from (outside their family, for predictions held out with "
                "it) is farther than the distance shown, the farthest any other held-out "
                "prediction was checked at; trust them and their intervals less"
            )
    chosen = None
    if plan > 0:
        done = sorted(set.intersection(*known)) if known else []
        chosen = plan_runs(distances, labels, plan, done)
    return PredictResult(
        found, tuple(all_preds), references, source, tuple(notes), scores.definitions, chosen
    )


def _scores_of_populations(
    found: TreeResult, scores: BenchmarkScores, bench: str, notes: list[str]
) -> dict[str, float]:
    """Give each population the score of its model, when the benchmark ran the same weights.

    A model collected in several ways (sampled and exact, say) is several populations with one
    score. A score from a run with other weight settings (another dtype, revision, adapter ...)
    is not used, and a note says so.
    """
    by_model = scores.scores[bench]
    bases = {identity.base for identity in found.identities.values()}
    populations = set(found.phylogeny.labels)
    out = {}
    for label, value in sorted(by_model.items()):
        if label in bases:
            continue
        if label in populations:
            out[label] = value
        else:
            notes.append(f"{bench}: {label} has a score but no genes (not in the tree): not used")
    for label, identity in sorted(found.identities.items()):
        if identity.base not in by_model:
            continue
        weights = dict(scores.weights.get(bench, {}).get(identity.base, {}))
        if weights == dict(identity.weights):
            out[label] = by_model[identity.base]
        else:
            notes.append(
                f"{bench}: the score of {identity.base} ({_settings_text(weights)}) is not used "
                f"for {label} ({_settings_text(identity.weights)}): other weight settings"
            )
    return out


def _questions_of_populations(
    found: TreeResult, scores: BenchmarkScores, bench: str, real: Mapping[str, float],
    notes: list[str],
) -> QuestionScores | None:  # fmt: skip
    """Each scored population's per-question results (its model's), for the baseline."""
    questions = scores.questions.get(bench)
    if questions is None:
        return None
    base = [found.identities[m].base if m in found.identities else m for m in real]
    rows = questions.of(base)
    if rows is None:
        lacking = sorted(m for m, b in zip(real, base, strict=True) if b not in questions.labels)
        notes.append(
            f"{bench}: the random-questions baseline is left out: no per-question results for "
            f"{', '.join(lacking)}"
        )
        return None
    return dataclasses.replace(rows, labels=tuple(real))


def _settings_text(weights: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(weights.items())) or "no weight settings"
