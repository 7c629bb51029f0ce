"""``tree`` and ``predict``: the family tree and predicted benchmark scores."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phylolm_harness.cli.options import add_population_options, out_dir, results_dirs, tree_options
from phylolm_harness.core.conformal import DEFAULT_LEVEL
from phylolm_harness.errors import InputError

if TYPE_CHECKING:
    from phylolm_harness.pipeline import TreeResult

_TREE_EXAMPLES = """\
examples:
  lm_eval --model hf --model_args pretrained=HuggingFaceTB/SmolLM2-135M \\
      --tasks phylolm_genes --output_path results/ --log_samples
  phylolm-harness tree results/                      # writes results/phylolm/
  phylolm-harness tree results/ -o out/ --method upgma --rename SmolLM2-135M=smol
  phylolm-harness tree results/ --populations more_models.jsonl --genome math
"""

_PREDICT_EXAMPLES = """\
examples:
  lm_eval --model hf --model_args pretrained=MODEL --tasks phylolm_genes,mmlu,arc_challenge \\
      --output_path results/ --log_samples          # some models with benchmarks, all with genes
  phylolm-harness predict results/                   # mmlu and arc_challenge where present
  phylolm-harness predict results/ --benchmark hellaswag:acc_norm --families families.csv
  phylolm-harness predict results/ --plan 5          # which 5 models to run benchmarks on next

MMLU offline (no dataset hub): lm_eval ... --tasks phylolm_mmlu [--limit N per subject]; its
results read like lm-eval's own mmlu.
"""


def add_commands(commands: Any) -> None:
    """Add ``tree`` and ``predict``."""
    tree = commands.add_parser(
        "tree",
        help="distance matrices, tree and report from lm-eval outputs",
        description="Read the PhyloLM samples under RESULTS_DIR (lm_eval --output_path ... "
        "--log_samples) and write similarity.csv, distances.csv, tree.nwk, tree.png, tree.html "
        "(the tree to explore in a browser) and report.md.",
        epilog=_TREE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_population_options(tree)
    tree.set_defaults(run=_run_tree)

    predict = commands.add_parser(
        "predict",
        help="predict benchmark scores from the distances, next to real lm-eval results",
        description="Everything `tree` writes, plus predictions.csv and one scatter plot per "
        "benchmark: scores predicted for every model from its PhyloLM distances to the models "
        "that have real lm-eval results under RESULTS_DIR, with held-out evaluation.",
        epilog=_PREDICT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_population_options(predict)
    predict.add_argument(
        "--benchmark",
        action="append",
        default=[],
        metavar="TASK[:METRIC]",
        help="benchmark to predict (default: mmlu and arc_challenge where present); repeatable",
    )
    predict.add_argument(
        "--families",
        type=Path,
        metavar="CSV",
        help="model,family CSV for leave-one-family-out (default: clades of the tree)",
    )
    predict.add_argument(
        "--predictor",
        choices=("auto", "paper", "kernel", "knn"),
        default="auto",
        help="auto (chosen by cross-validation, default), the paper's FastICA+sigmoid, "
        "kernel ridge on the similarity, or nearest relatives",
    )
    predict.add_argument(
        "--mmlu-average",
        choices=("subjects", "questions"),
        default="subjects",
        help="MMLU score: mean of the 57 subject accuracies (the paper's and the Open LLM "
        "Leaderboard's, default) or over all questions (lm-eval's mmlu group)",
    )
    predict.add_argument(
        "--coverage",
        type=float,
        default=DEFAULT_LEVEL,
        metavar="LEVEL",
        help=f"coverage of the prediction intervals (default {DEFAULT_LEVEL})",
    )
    predict.add_argument(
        "--plan",
        type=int,
        default=None,
        metavar="K",
        help="also propose the K models whose real benchmark runs would best predict the others "
        "(from the tree alone: works before any benchmark has run); writes plan.csv",
    )
    predict.set_defaults(run=_run_predict)


def _run_tree(args: argparse.Namespace) -> int:
    from phylolm_harness import pipeline
    from phylolm_harness.io.files import write_outputs
    from phylolm_harness.report.outputs import OUTPUT_PATTERNS

    out = out_dir(args)
    found = pipeline.tree(
        results_dirs(args), args.populations, reuse=args.reuse, **tree_options(args)
    )
    write_outputs(out, found.files(), stale=OUTPUT_PATTERNS)
    _summarise(found, out)
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from phylolm_harness import pipeline, prediction
    from phylolm_harness.io.files import write_outputs
    from phylolm_harness.io.tables import read_families
    from phylolm_harness.report.outputs import OUTPUT_PATTERNS

    results = results_dirs(args)
    if results is None:
        raise InputError("predict needs a RESULTS_DIR with lm-eval benchmark results")
    if args.plan is not None and args.plan < 1:
        raise InputError(f"--plan must be 1 or more, got {args.plan}")
    if not 0 < args.coverage < 1:
        raise InputError(f"--coverage must be between 0 and 1, got {args.coverage}")
    out = out_dir(args)
    options = tree_options(args)
    if args.families is not None:
        read_families(args.families)  # a bad file fails before the tree is built
    scores = prediction.read_scores(
        results,
        args.benchmark,
        rename=options["rename"],
        mmlu_average=args.mmlu_average,
        required=args.plan is None,
    )
    found = pipeline.tree(
        results, args.populations, benchmarks_hint=False, reuse=args.reuse, **options
    )
    predicted = prediction.predict(
        found,
        results,
        families_file=args.families,
        predictor=args.predictor,
        level=args.coverage,
        plan=args.plan or 0,
        scores=scores,
    )
    write_outputs(out, predicted.files(), stale=OUTPUT_PATTERNS)
    _summarise(found, out)
    for note in predicted.notes:
        print(f"note: {note}")
    for bench, definition in predicted.definitions.items():
        print(f"{bench}: {definition}")
    if predicted.predictions:
        print(f"predictions -> {out / 'predictions.csv'}")
    if predicted.plan is not None:
        print(f"run next: {', '.join(predicted.plan.chosen)} -> {out / 'plan.csv'}")
    return 0


def _summarise(found: TreeResult, out: Path) -> None:
    pops = found.phylogeny.populations
    print(f"{len(pops.models)} models, {len(pops.genes)} genes -> {out}")
    if found.phylogeny.tree is None:
        print(f"no tree: {found.phylogeny.why_no_tree}")
    for note in found.notes:
        print(f"note: {note}")
