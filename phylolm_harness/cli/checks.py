"""``baseline`` and ``check``: CI regression checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from phylolm_harness.cli.options import (
    add_inference_options,
    add_input_options,
    file_arg,
    folder_arg,
    out_dir,
    renames,
    results_dirs,
    tree_options,
)
from phylolm_harness.errors import InputError

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


def add_commands(commands: Any) -> None:
    """Add ``baseline`` and ``check``."""
    baseline = commands.add_parser(
        "baseline",
        help="record a baseline for later checks",
        description="Read the PhyloLM samples under RESULTS_DIR and write a baseline file "
        "(JSON: genome fingerprints, each model's alleles and settings, distances, the tree with "
        "branch supports) for `phylolm-harness check`.",
        epilog=_BASELINE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_options(baseline)
    baseline.add_argument(
        "-o", "--out", type=file_arg, required=True, metavar="FILE", help="baseline JSON to write"
    )
    add_inference_options(baseline)
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
    add_input_options(check)
    check.add_argument("--baseline", type=Path, required=True, metavar="FILE")
    check.add_argument(
        "-o", "--out", type=folder_arg, help="output folder (default RESULTS_DIR/phylolm-check)"
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
        "--inconclusive",
        choices=("fail", "pass"),
        default="fail",
        help="what a --max-drift or --nearest rule the data cannot decide at --level counts as "
        "(default fail: a CI gate stays red until it has the data to be green)",
    )
    check.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="largest distance between exact collections read as the same model (default 1e-5)",
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


def _run_baseline(args: argparse.Namespace) -> int:
    from phylolm_harness import regression
    from phylolm_harness.io.files import write_file

    if results_dirs(args) is None and not args.populations:
        raise InputError("give a RESULTS_DIR, a --populations file, or both")
    found, content = regression.baseline(results_dirs(args), args.populations, **tree_options(args))
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

    out = out_dir(args, "phylolm-check")
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
    if (
        args.same_model
        and not same
        and not (args.max_drift or args.nearest or args.max_rf is not None)
    ):
        raise InputError(
            "--same-model none and no other rule: nothing to check (add --nearest, --max-drift "
            "or --max-rf, or drop --same-model none)"
        )
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
        inconclusive=args.inconclusive,
    )
    result = regression.check(
        results_dirs(args),
        args.populations,
        args.baseline,
        rules,
        rename=renames(args.rename, args.labels),
        genomes=frozenset(args.genome) or None,
        any_tool_version=args.any_tool_version,
    )
    if not result.verdicts:
        raise InputError("no rule applied to these models: nothing was checked")
    write_outputs(out, result.files(), stale=regression.CHECK_OUTPUTS)
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
