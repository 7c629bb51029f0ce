"""CI's version matrix: the stock ``lm_eval`` collects and ``tree`` builds, on every supported set.

Three environments, each its own virtual environment:

* ``floor``: the lowest supported versions (``.ci/floors.txt``, the lower bounds of pyproject);
* ``newest``: today's newest releases (the environment running this script, CI's ``.venv``);
* ``pre``: lm-eval's newest pre-release, 0.5.0.dev1.

In each, three tiny test models (built once, here) are collected with the stock ``lm_eval`` in
both modes (sampled: ``--model hf --tasks phylolm_genes``, with ``phylolm_mmlu`` in the same run;
exact: ``--model phylolm-hf --tasks phylolm_genes_exact``) and ``phylolm-harness tree`` is built
from them with that environment's own numpy, scipy and scikit-bio. Then the environments are
compared: exact distances must agree to 1e-6 (relative), sampled ones within four standard errors
of their difference, MMLU accuracies exactly.

The environments are built one at a time beside the repository (``.venv-floor``, ``.venv-pre``)
and removed once collected (about 2.5 GB each), unless ``PHYLOLM_VENVS`` names a folder to keep
them in for the next run.

    python .ci/versions.py [--work DIR] [--only floor,pre]

Exit status 0 when every environment collects, builds and agrees; 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.lm_eval_runner import run_lm_eval  # noqa: E402
from support.tiny_models import build_tiny_family  # noqa: E402

MODELS = ("code-1", "math-1", "prose-1")
GENES = "6"
PRE_RELEASE = "lm-eval[hf,api]==0.5.0.dev1"
ENVIRONMENTS = ("floor", "newest", "pre")


def environment(name: str, root: Path) -> Path:
    """Create (or reuse) the environment ``name``; return its python."""
    if name == "newest":
        return Path(sys.executable)
    folder = root / f".venv-{name}"
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU wheel on disk
    if name == "floor":
        subprocess.run([*pip, "-c", str(REPO / ".ci" / "floors.txt"), "-e", ".[demo]"],
                       check=True, cwd=REPO)  # fmt: skip
    else:
        subprocess.run([*pip, PRE_RELEASE, "-e", ".[demo]"], check=True, cwd=REPO)
    return python


def versions(python: Path) -> str:
    """Print-ready versions of the packages that matter, on one line."""
    code = (
        "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in "
        "('lm_eval', 'transformers', 'torch', 'numpy', 'scipy', 'scikit-bio', 'pandas')))"
    )
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def collect(python: Path, models: dict[str, Path], out: Path) -> Path:
    """Collect every model in both modes with the stock lm_eval; build the tree; return it."""
    results = out / "results"
    for label in MODELS:
        folder = models[label]
        common = ["--model_args", f"pretrained={folder}", "--device", "cpu", "--limit", GENES,
                  "--output_path", str(results), "--log_samples"]  # fmt: skip
        run_lm_eval("--model", "hf", "--tasks", "phylolm_genes,phylolm_mmlu", "--batch_size", "64",
                    *common, python=python)  # fmt: skip
        run_lm_eval("--model", "phylolm-hf", "--tasks", "phylolm_genes_exact", *common,
                    python=python)  # fmt: skip
    tree = out / "tree"
    command = [str(python), "-m", "phylolm_harness", "tree", str(results), "-o", str(tree)]
    subprocess.run(command, check=True)
    if not (tree / "tree.nwk").is_file():
        raise SystemExit(f"{tree}: no tree.nwk written")
    return tree


def mmlu(results: Path) -> dict[str, float]:
    """Each model's ``phylolm_mmlu`` accuracy, from the lm-eval results files under ``results``."""
    scores = {}
    for path in results.glob("*/results_*.json"):
        run = json.loads(path.read_text(encoding="utf-8"))
        if "phylolm_mmlu" in run["results"]:
            scores[_short(run["config"]["model_args"]["pretrained"])] = run["results"][
                "phylolm_mmlu"
            ]["acc,none"]
    return scores


def matrix(path: Path) -> dict[tuple[str, str], float]:
    """Read a square CSV matrix written by ``tree`` (labels shortened to the model's folder)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    labels = [_short(label) for label in rows[0][1:]]
    return {(_short(row[0]), labels[j]): float(v) for row in rows[1:] for j, v in
            enumerate(row[1:])}  # fmt: skip


def _short(label: str) -> str:
    return label.rsplit("/", 1)[-1]


def compare(trees: dict[str, Path]) -> list[str]:
    """Disagreements between the environments' distances (empty when they agree)."""
    problems = []
    names = sorted(trees)
    first = names[0]
    accuracy = {name: mmlu(tree.parent / "results") for name, tree in trees.items()}
    if len(accuracy[first]) != len(MODELS):
        problems.append(f"{first}: phylolm_mmlu scored {len(accuracy[first])} models")
    for other in names[1:]:
        if accuracy[other] != accuracy[first]:
            problems.append(f"phylolm_mmlu: {other} {accuracy[other]} vs {first} {accuracy[first]}")
    reference = matrix(trees[first] / "distances.csv")
    reference_se = matrix(trees[first] / "distance_errors.csv")
    for other in names[1:]:
        distances = matrix(trees[other] / "distances.csv")
        errors = matrix(trees[other] / "distance_errors.csv")
        if set(distances) != set(reference):
            problems.append(f"{other}: other populations than {first}: {sorted(distances)}")
            continue
        for pair, value in distances.items():
            expected = reference[pair]
            if "exact" in pair[0] and "exact" in pair[1]:
                ok = math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9)
                limit = "1e-6 relative"
            else:
                spread = 4 * math.hypot(errors[pair], reference_se[pair])
                ok = abs(value - expected) <= spread
                limit = f"4 s.e. = {spread:.4f}"
            if not ok:
                problems.append(f"{pair}: {other} {value:.6g} vs {first} {expected:.6g} ({limit})")
    return problems


def main() -> int:
    """Run the matrix; print each environment and the comparison; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--only", default=",".join(ENVIRONMENTS), help="environments to run")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(ENVIRONMENTS)
    if unknown:
        parser.error(f"unknown environments: {sorted(unknown)}")
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        family = build_tiny_family(work / "models", seed=0)
        trees = {}
        kept = os.environ.get("PHYLOLM_VENVS")
        for name in names:
            python = environment(name, Path(kept) if kept else REPO)
            print(f"{name}: {versions(python)}", flush=True)
            trees[name] = collect(python, family.models, work / name)
            if not kept and name != "newest":
                shutil.rmtree(REPO / f".venv-{name}")
        problems = compare(trees)
    for problem in problems:
        print(f"disagree: {problem}")
    print("version matrix:", "FAILED" if problems else f"{len(names)} environments agree")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
