"""Command-line interface: ``phylolm-harness tree | genes | tasks-dir``."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from phylolm_harness.errors import InputError

_TREE_EXAMPLES = """\
examples:
  lm_eval --model hf --model_args pretrained=HuggingFaceTB/SmolLM2-135M \\
      --tasks phylolm_genes --output_path results/ --log_samples
  phylolm-harness tree results/                      # writes results/phylolm/
  phylolm-harness tree results/ -o out/ --method upgma --rename SmolLM2-135M=smol
  phylolm-harness tree results/ --populations more_models.jsonl --genome math
"""

_GENES_EXAMPLES = """\
examples:
  phylolm-harness genes show math
  phylolm-harness genes build docs.jsonl --name legal -o legal.json --seed 1
  lm_eval ... --tasks phylolm_genes_math --metadata '{"genome": "legal.json"}'
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
    tree.add_argument("results_dir", type=Path, nargs="?", help="what lm_eval --output_path got")
    tree.add_argument("-o", "--out", type=Path, help="output folder (default RESULTS_DIR/phylolm)")
    tree.add_argument(
        "--populations",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a populations file (JSON Lines) to add; repeatable",
    )
    tree.add_argument("--method", choices=("nj", "upgma"), default="nj", help="default: nj")
    tree.add_argument(
        "--estimator",
        choices=("unbiased", "plugin"),
        default="unbiased",
        help="within-model term: Nei's unbiased (default) or the paper's plug-in",
    )
    tree.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="label a model NEW; OLD is lm-eval's model name or the default label; repeatable",
    )
    tree.add_argument(
        "--labels", type=Path, metavar="CSV", help="a CSV file with columns model,label"
    )
    tree.add_argument(
        "--genome",
        action="append",
        default=[],
        metavar="NAME",
        help="use only genes of this genome (e.g. math); repeatable",
    )
    tree.add_argument(
        "--resamples",
        type=int,
        default=100,
        help="gene resamples for distance standard errors (0 to skip; default 100)",
    )
    tree.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    tree.set_defaults(run=_run_tree)

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

    tasks_dir = commands.add_parser(
        "tasks-dir", help="print the folder of the lm-eval tasks (for lm_eval --include_path)"
    )
    tasks_dir.set_defaults(run=_run_tasks_dir)
    return parser


def _run_tree(args: argparse.Namespace) -> int:
    from phylolm_harness.harness_results import read_observations
    from phylolm_harness.observations import GeneObservation
    from phylolm_harness.outputs import write_outputs
    from phylolm_harness.phylogeny import infer_phylogeny
    from phylolm_harness.populations import Populations
    from phylolm_harness.populations_file import read_populations_file
    from phylolm_harness.report import TREE_OUTPUTS, render_tree_outputs

    if args.results_dir is None and not args.populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    out = args.out or (args.results_dir / "phylolm" if args.results_dir else None)
    if out is None:
        raise InputError("with only --populations files, say where to write with -o OUT_DIR")
    if args.resamples < 0:
        raise InputError("--resamples must be 0 or more")
    rename = _renames(args.rename, args.labels)
    genomes = frozenset(args.genome) or None
    observations: list[GeneObservation] = []
    notes: list[str] = []
    if args.results_dir is not None:
        collected = read_observations(args.results_dir, rename, genomes)
        observations.extend(collected.observations)
        notes.extend(collected.notes)
    for path in args.populations:
        observations.extend(
            o for o in read_populations_file(path) if genomes is None or o.genome in genomes
        )
    if genomes is not None and not observations:
        raise InputError(f"no observation of genome(s) {', '.join(sorted(genomes))}")
    populations = Populations.from_observations(observations)
    phylogeny = infer_phylogeny(populations, args.method, args.estimator, args.resamples, args.seed)
    write_outputs(out, render_tree_outputs(phylogeny, observations, notes), stale=TREE_OUTPUTS)
    print(f"{len(populations.models)} models, {len(populations.genes)} genes -> {out}")
    if phylogeny.tree is None:
        print(f"no tree: {phylogeny.why_no_tree}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _renames(pairs: Sequence[str], labels_file: Path | None) -> dict[str, str]:
    rename: dict[str, str] = {}
    if labels_file is not None:
        try:
            with labels_file.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise InputError(f"{labels_file}: cannot read labels ({error})") from None
        for number, row in enumerate(rows, start=2):
            if not row.get("model") or not row.get("label"):
                raise InputError(f"{labels_file}:{number}: needs non-empty model and label columns")
            rename[row["model"]] = row["label"]
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise InputError(f"--rename {pair!r}: expected OLD=NEW")
        rename[old] = new
    return rename


def _run_genes_show(args: argparse.Namespace) -> int:
    from phylolm_harness.genome import load_genome

    genome = load_genome(args.genome)
    print(f"name: {genome.name}\nfingerprint: {genome.fingerprint}\ngenes: {len(genome.genes)}")
    for gene in genome.genes:
        print(f"{gene.id}\t{gene.text!r}")
    return 0


def _run_genes_build(args: argparse.Namespace) -> int:
    from phylolm_harness.genome import (
        build_genome,
        read_dataset_documents,
        read_documents,
        write_genome,
    )

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


def _run_tasks_dir(args: argparse.Namespace) -> int:
    from phylolm_harness.tasks_location import tasks_dir

    print(tasks_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
