"""Time ``tree`` on 100 to 10,000 synthetic models, stage by stage, against an older version.

Populations come from ``tests/support/synthetic_populations.py`` (256 genes, 8 to 80 alleles per
gene, nested clades, sampled and exact models mixed, 2% with partial coverage). For each size:

- the whole command, ``phylolm-harness tree --populations FILE -o OUT``, in a fresh process:
  wall time and peak resident memory, with the default resamples (100 up to 2,000 models) and with
  ``--resamples 0``;
- ``predict`` with ARC results for a tenth of the models (20 to 200), written as lm-eval
  writes them, in a fresh process;
- the same ``tree`` command from another checkout (``--old DIR``, e.g. a ``git worktree`` of an
  older commit), under the same memory cap, where it still finishes;
- each stage in-process: reading, populations, similarity, resampled errors and supports, tree,
  pictures, every output file.

Run (minutes; the 10,000-model file is 1.3 GB)::

    git worktree add /tmp/phylolm-old 4e8e8c9
    python benchmarks/bench_scale.py --sizes 100 1000 10000 --old /tmp/phylolm-old
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.results_layout import write_benchmark_run  # noqa: E402
from support.synthetic_populations import write  # noqa: E402

CAP_BYTES = 20 * 2**30
"""Address-space cap of every timed command (this machine has 24 GiB)."""

_MEASURE = (
    "import resource, subprocess, sys, time\n"
    "cap = int(sys.argv[1])\n"
    "limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[2:], preexec_fn=limit, capture_output=True, text=True)\n"
    "wall = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20\n"
    "tail = (done.stderr.strip().splitlines() or [''])[-1][:120]\n"
    "print(f'{done.returncode}\\t{wall:.1f}\\t{peak:.2f}\\t{tail}')\n"
)


def measure(command: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a command in a fresh process; return ``time / peak memory`` or why it failed.

    ``cwd`` must not be a checkout: ``python -m`` would import the package found there.
    """
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(CAP_BYTES), *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=True,
    ).stdout.rstrip("\n")
    code, wall, peak, tail = out.split("\t", 3)
    if code != "0":
        return f"failed after {wall} s at {peak} GB ({tail or 'exit ' + code})"
    return f"{wall} s / {peak} GB"


def scored_runs(path: Path, folder: Path) -> tuple[Path, int]:
    """Write ARC results for a tenth of the models (20 to 200), as ``lm_eval`` would; return the
    ``model,label`` CSV that labels them as in the populations file, and how many were scored.

    A score is its family's level (drawn once per family) plus noise, so relatives score alike.
    """
    import numpy as np

    models: dict[str, None] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:  # the generator writes '{"model": "NAME", ...' with plain names
            models.setdefault(line[11 : line.index('"', 11)])
    names = list(models)
    step = max(1, len(names) // min(200, max(20, len(names) // 10)))
    rng = np.random.default_rng(0)
    level: dict[str, float] = {}
    labels = ["model,label"]
    for name in names[::step]:
        family = name.split("/")[0]
        score = level.setdefault(family, float(rng.uniform(0.3, 0.7))) + rng.normal(0, 0.02)
        write_benchmark_run(folder, name, "arc_challenge", "acc_norm", round(float(score), 4))
        labels.append(f"{name},{name}")
    csv = folder.parent / "labels.csv"
    csv.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return csv, len(labels) - 1


def stages(path: Path) -> dict[str, float]:
    """Seconds of each stage, in this process."""
    import numpy as np

    from phylolm_harness.core.phylogeny import infer_phylogeny
    from phylolm_harness.core.populations import Populations
    from phylolm_harness.core.similarity import nei_distance, nei_similarity
    from phylolm_harness.core.tree import build_tree, method_for
    from phylolm_harness.io.files import write_outputs
    from phylolm_harness.io.populations_file import read_populations_file
    from phylolm_harness.report.outputs import render_tree_outputs
    from phylolm_harness.report.plots import draw_heatmap
    from phylolm_harness.report.tree_plot import draw_dendrogram

    times: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        times[name] = time.perf_counter() - start
        return result

    observations = timed("read", read_populations_file, path)
    pops = timed("populations", Populations.from_observations, observations)
    similarity = timed("similarity", nei_similarity, pops)
    distances = nei_distance(similarity.similarity)
    method = method_for("auto", len(pops.models))
    tree = timed(f"tree ({method})", build_tree, distances, pops.models, method)
    start = time.perf_counter()
    phylogeny = infer_phylogeny(pops, "auto")
    times["errors + supports (whole inference less the above)"] = (
        time.perf_counter() - start - times["similarity"] - times[f"tree ({method})"]
    )
    order = [str(t.name) for t in tree.tips()]
    index = np.array([pops.models.index(m) for m in order])
    timed("tree picture", draw_dendrogram, tree, "bench", phylogeny.supports)
    timed("heat map", draw_heatmap, distances, order, "bench", index)
    with tempfile.TemporaryDirectory() as out:
        files = timed(
            "pictures and page (the tables are made as written)",
            render_tree_outputs,
            phylogeny,
            observations,
        )
        timed("every output file written", write_outputs, Path(out) / "tree", files)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--old", type=Path, help="checkout of an older version to compare")
    parser.add_argument("--stages-max", type=int, default=2000, help="largest size timed by stage")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in args.sizes:
            path = write(root / f"pop{n}.jsonl", n)
            print(f"\n## {n} models ({path.stat().st_size / 2**20:.0f} MB populations file)\n")
            cli = [sys.executable, "-m", "phylolm_harness", "tree", "--populations", str(path)]
            print("| command | time / peak memory |")
            print("|---|---|")
            new = measure([*cli, "-o", str(root / "new")], dict(env, PYTHONPATH=str(REPO)), root)
            print(f"| this version, default resamples | {new} |")
            bare = measure(
                [*cli, "-o", str(root / "bare"), "--resamples", "0"],
                dict(env, PYTHONPATH=str(REPO)),
                root,
            )
            print(f"| this version, --resamples 0 | {bare} |")
            scores = root / f"scores{n}"
            labels, scored = scored_runs(path, scores)
            predict = [sys.executable, "-m", "phylolm_harness", "predict", str(scores)]
            predict += ["--populations", str(path), "--labels", str(labels)]
            predicted = measure(
                [*predict, "-o", str(root / "predict")], dict(env, PYTHONPATH=str(REPO)), root
            )
            row = f"this version, `predict` ({scored} models with ARC results, all predicted)"
            print(f"| {row} | {predicted} |")
            if args.old is not None:
                old_env = dict(env, PYTHONPATH=str(args.old))
                old = measure([*cli, "-o", str(root / "old")], old_env, root)
                print(f"| older version ({args.old.name}), default resamples | {old} |")
            if n <= args.stages_max:
                print("\n| stage (in-process, default settings) | seconds |")
                print("|---|---|")
                for name, seconds in stages(path).items():
                    print(f"| {name} | {seconds:.2f} |")
            path.unlink()


if __name__ == "__main__":
    main()
