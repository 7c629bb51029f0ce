"""A real regression check, run by CI: the tiny test family against its committed baseline.

Builds the six tiny models of the tests (deterministic from their seed), collects their alleles
with the stock ``lm_eval`` command, and runs ``phylolm-harness check`` against
``tests/baselines/tiny_family.json`` with every rule: each model is still itself, each keeps its
closest relative, and no well-supported split of the family tree moved. The exit status is the
check's (0 pass, 1 a rule failed, 2 bad input).

The baseline was collected with lm-eval seeds 11,11,11,11 and the check collects with lm-eval's
default seeds, so it is a genuine re-collection: the same-model tests compare independent
samples. ``--write`` rebuilds the baseline (after a change of the tiny models or of the baseline
format).

    python .ci/family_check.py [--work DIR] [--write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.lm_eval_runner import FAMILY_GENES, run_lm_eval  # noqa: E402
from support.tiny_models import build_tiny_family  # noqa: E402

BASELINE = REPO / "tests" / "baselines" / "tiny_family.json"
BASELINE_SEED = "11,11,11,11"


def main() -> int:
    """Build, collect and check (or rebuild the baseline); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--write", action="store_true", help="rebuild the committed baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        family = build_tiny_family(work / "models", seed=0)
        results = work / ("baseline-runs" if args.write else "runs")
        seed = ["--seed", BASELINE_SEED] if args.write else []
        for folder in family.models.values():
            run_lm_eval(
                "--model", "hf", "--model_args", f"pretrained={folder}", "--device", "cpu",
                "--tasks", "phylolm_genes", "--limit", str(FAMILY_GENES), "--batch_size", "64",
                "--output_path", str(results), "--log_samples", *seed,
            )  # fmt: skip
        cli = [sys.executable, "-m", "phylolm_harness"]
        if args.write:
            command = [*cli, "baseline", str(results), "-o", str(BASELINE)]
            return subprocess.run(command, check=False).returncode
        nearest = [arg for label in sorted(family.models) for arg in ("--nearest", label)]
        out = work / "check"
        command = [
            *cli, "check", str(results), "--baseline", str(BASELINE), "-o", str(out),
            "--max-rf", "0", *nearest,
        ]  # fmt: skip
        status = subprocess.run(command, check=False).returncode
        if (out / "check.md").is_file():
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                with open(summary, "a", encoding="utf-8") as handle:
                    handle.write((out / "check.md").read_text(encoding="utf-8"))
        return status


if __name__ == "__main__":
    sys.exit(main())
