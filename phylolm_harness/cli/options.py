"""Options shared by the commands that read results folders, and their conversion."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from phylolm_harness.core.phylogeny import DEFAULT_RESAMPLES, RESAMPLE_MAX_MODELS
from phylolm_harness.core.similarity import DEFAULT_DISTANCE
from phylolm_harness.core.tree import NJ_MAX_TAXA
from phylolm_harness.errors import InputError


def add_population_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``tree`` and ``predict``: inputs, output folder, inference."""
    add_input_options(parser)
    parser.add_argument(
        "-o", "--out", type=folder_arg, help="output folder (default RESULTS_DIR/phylolm)"
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="TREE_DIR",
        help="an earlier tree's output folder (may be OUT_DIR): the pairs of models it already "
        "had are taken from its pairs.npy, only pairs with new or changed models are computed",
    )
    add_inference_options(parser)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Where the observations come from and how models are labelled and selected."""
    parser.add_argument(
        "results_dir",
        type=Path,
        nargs="*",
        metavar="RESULTS_DIR",
        help="what lm_eval --output_path got; several folders (e.g. one per machine) are read "
        "as one",
    )
    parser.add_argument(
        "--populations",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a populations file (JSON Lines, or Parquet as tree writes it) to add; repeatable",
    )
    rename_arg(parser)
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


def add_inference_options(parser: argparse.ArgumentParser) -> None:
    """How distances and trees are computed."""
    parser.add_argument(
        "--method",
        choices=("auto", "nj", "upgma", "bme"),
        default="auto",
        help="tree building: Neighbour-Joining, UPGMA or balanced minimum evolution; auto "
        f"(default): nj up to {NJ_MAX_TAXA} models, bme beyond",
    )
    parser.add_argument(
        "--distance",
        choices=("nei", "da"),
        default=DEFAULT_DISTANCE,
        help="distance between models: Nei's standard distance -ln S (the paper's) or Nei's "
        f"D_A, where every gene weighs the same (default {DEFAULT_DISTANCE}; see the lineage "
        "benchmark in benchmarks/results/lineages.md)",
    )
    parser.add_argument(
        "--estimator",
        choices=("unbiased", "plugin"),
        default="unbiased",
        help="within-model term: Nei's unbiased (default) or the paper's plug-in",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=None,
        help="gene resamples for distance standard errors and branch supports (0 to skip; "
        f"default {DEFAULT_RESAMPLES} up to {RESAMPLE_MAX_MODELS} models, 0 beyond)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")


def results_dirs(args: argparse.Namespace) -> list[Path] | None:
    """Return the RESULTS_DIR folders given, or ``None`` for none."""
    return list(args.results_dir) or None


def folder_arg(text: str) -> Path:
    """Parse an output folder given on the command line (an empty string is no folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: name a folder")
    return Path(text)


def file_arg(text: str) -> Path:
    """Parse an output file given on the command line: not empty, not ending with a separator."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: name a file")
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text!r} ends with '/', a folder: name a file")
    return Path(text)


def out_dir(args: argparse.Namespace, folder: str = "phylolm") -> Path:
    """Return the output folder: ``-o``, else ``RESULTS_DIR/<folder>`` for one RESULTS_DIR."""
    given = results_dirs(args)
    if given is None and not args.populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    if args.out is not None:
        return Path(args.out)
    if given is None:
        raise InputError("with only --populations files, say where to write with -o OUT_DIR")
    if len(given) > 1:
        raise InputError("with several RESULTS_DIR folders, say where to write with -o OUT_DIR")
    return given[0] / folder


def tree_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`phylolm_harness.pipeline.tree` from the options."""
    return {
        "rename": renames(args.rename, args.labels),
        "genomes": frozenset(args.genome) or None,
        "method": args.method,
        "estimator": args.estimator,
        "distance": args.distance,
        "resamples": args.resamples,
        "seed": args.seed,
    }


def rename_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--rename OLD=NEW`` (repeatable) to a command."""
    parser.add_argument(
        "--rename",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="label a model NEW; OLD is lm-eval's model name or a label (NEW has no '='); "
        "repeatable",
    )


def renames(pairs: Sequence[str], labels_file: Path | None) -> dict[str, str]:
    """Label overrides from ``--labels`` and ``--rename`` (the latter win)."""
    from phylolm_harness.io.reading import text
    from phylolm_harness.io.tables import read_labels

    rename = read_labels(labels_file) if labels_file is not None else {}
    for pair in pairs:
        old, sep, new = pair.rpartition("=")  # labels with settings hold "=": NEW may not
        if not sep or not old or not new:
            raise InputError(f"--rename {pair!r}: expected OLD=NEW")
        rename[text(old, "--rename", "name")] = text(new, "--rename", "name")
    return rename
