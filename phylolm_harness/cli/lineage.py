"""``passages`` and ``lineage``: the lineage tree from likelihood profiles."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from phylolm_harness.cli.options import file_arg, folder_arg, rename_arg, renames

_EXAMPLES = """\
examples (every model runs both tasks; --log_samples is needed):
  lm_eval --model hf --model_args pretrained=MODEL --tasks phylolm_passages_write \\
      --output_path written/ --log_samples --seed 1234
  phylolm-harness passages written/ -o passages.jsonl
  lm_eval --model hf --model_args pretrained=MODEL --tasks phylolm_passages \\
      --metadata '{"passages": "passages.jsonl"}' --output_path scored/ --log_samples
  phylolm-harness lineage scored/                     # writes scored/lineage/
"""


def add_commands(commands: Any) -> None:
    """Add ``passages`` and ``lineage``."""
    passages = commands.add_parser(
        "passages",
        help="pool what every model wrote (phylolm_passages_write) into one passages file",
        description="Read the phylolm_passages_write samples under RESULTS_DIR and write every "
        "model's texts, as passages every model then scores with the phylolm_passages task.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    passages.add_argument("results_dir", type=Path, nargs="+", metavar="RESULTS_DIR")
    passages.add_argument(
        "-o", "--out", type=file_arg, required=True, help="passages file to write"
    )
    rename_arg(passages)
    passages.set_defaults(run=_run_passages)

    lineage = commands.add_parser(
        "lineage",
        help="experimental: lineage tree from likelihood profiles (phylolm_passages scores)",
        description="Read every model's phylolm_passages scores under RESULTS_DIR and write the "
        "tree of their likelihood profiles: tree.nwk, tree.png, distances.csv, "
        "distance_errors.csv and report.md. Experimental: on the known-lineage benchmark it is "
        "not better than the allele tree of `tree` yet (see docs/tree.md).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lineage.add_argument("results_dir", type=Path, nargs="+", metavar="RESULTS_DIR")
    lineage.add_argument(
        "-o", "--out", type=folder_arg, help="output folder (default RESULTS_DIR/lineage)"
    )
    lineage.add_argument(
        "--method", choices=("nj", "upgma", "bme"), default="nj", help="tree method (default nj)"
    )
    lineage.add_argument(
        "--resamples", type=int, default=100, help="passage resamples for supports (default 100)"
    )
    lineage.add_argument("--seed", type=int, default=0, help="seed of the resamples (default 0)")
    rename_arg(lineage)
    lineage.set_defaults(run=_run_lineage)


def _out(args: argparse.Namespace) -> Path:
    from phylolm_harness.errors import InputError

    if args.out is not None:
        return Path(args.out)
    if len(args.results_dir) > 1:
        raise InputError("with several RESULTS_DIR folders, say where to write with -o OUT_DIR")
    return Path(args.results_dir[0]) / "lineage"


def _run_passages(args: argparse.Namespace) -> int:
    from phylolm_harness.io.files import write_file
    from phylolm_harness.io.passages_file import format_passages_file, pool_written

    pooled, notes = pool_written(args.results_dir, renames(args.rename, None))
    write_file(args.out, format_passages_file(pooled))
    writers = len({p.writer for p in pooled})
    print(f"{len(pooled)} passages from {writers} models -> {args.out}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _run_lineage(args: argparse.Namespace) -> int:
    from phylolm_harness import pipeline
    from phylolm_harness.io.files import write_outputs
    from phylolm_harness.report.lineage import LINEAGE_OUTPUTS, render_lineage_outputs

    out = _out(args)
    found, notes = pipeline.lineage(
        args.results_dir,
        rename=renames(args.rename, None),
        method=args.method,
        resamples=args.resamples,
        seed=args.seed,
    )
    write_outputs(out, render_lineage_outputs(found, notes), stale=LINEAGE_OUTPUTS)
    n, p = found.profiles.loglik.shape
    print(f"{n} models, {p} passages -> {out}")
    if found.tree is None:
        print(f"no tree: {found.why_no_tree}")
    for note in notes:
        print(f"note: {note}")
    return 0
