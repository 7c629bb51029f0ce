"""Lineage recovery: how much of a known fine-tuning history each way of building the tree finds.

Reads the populations files and true trees that ``benchmarks/lineage_zoo.py`` wrote (one file per
lineage and expansion setting), runs the ``tree`` pipeline on each with every distance and tree
method ``tree`` offers (100 gene resamples, as ``tree`` does by default), and scores the tree
against the truth:

- **clade recall**: the share of the true tree's clades (non-trivial splits) the tree has;
- **wrong clades**: the tree's clades that contradict the truth (incompatible with a true clade;
  a clade inside a true multifurcation is not wrong, only unresolved there);
- **nRF**: the normalized Robinson-Foulds distance (0 identical, 1 nothing shared);
- **δ**: the δ-score of the distances (0 for distances that fit a tree);
- **calibration**: pooled over every lineage, of the clades shown with a bootstrap support (or a
  quartet concordance) of at least X, the share that are right; and of the clades ``tree`` shows
  strong (not weak), and of those the per-branch cuts alone would pass, the share that are right.

::

    python benchmarks/bench_lineages.py benchmarks/results/lineages \\
        -o benchmarks/results/lineages.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skbio import TreeNode

from phylolm_harness import pipeline
from phylolm_harness.core.support import Supports
from phylolm_harness.core.tree import from_newick, robinson_foulds, splits
from phylolm_harness.core.treelikeness import TreeFit, is_weak

DISTANCES = ("nei", "da")
METHODS = ("nj", "bme", "upgma")
THRESHOLDS = (0.5, 0.7, 0.9, 0.95)


@dataclass
class Scored:
    """One tree against its truth."""

    recall: float
    wrong: int
    clades: int
    nrf: float
    delta: float
    # (support, concordance, right, shown strong, strong by the per-branch cuts alone)
    clade_rows: list[tuple[float, float, bool, bool, bool]]


def compatible(
    side: frozenset[str], truth: frozenset[frozenset[str]], tips: frozenset[str]
) -> bool:
    """Whether a split can sit in the same tree as every true split."""
    return all(side <= t or t <= side or not (side & t) or (side | t) == tips for t in truth)


def score(found: pipeline.TreeResult, truth_newick: str) -> Scored:
    """Score the tree of one ``tree`` run against the true tree."""
    phylogeny = found.phylogeny
    assert phylogeny.tree is not None, phylogeny.why_no_tree
    assert phylogeny.fit is not None
    return score_tree(
        phylogeny.tree, phylogeny.supports, phylogeny.fit, phylogeny.labels, truth_newick
    )


def score_tree(
    tree: TreeNode,
    supports: Supports | None,
    fit: TreeFit,
    labels: Sequence[str],
    truth_newick: str,
) -> Scored:
    """Score a tree, with its supports and fit, against the true tree."""
    truth = from_newick(truth_newick)
    tips = frozenset(str(t.name) for t in truth.tips())
    true_splits, shown = splits(truth), splits(tree)
    lookup = supports.lookup() if supports is not None else {}
    concordance = fit.lookup(labels)
    rows = []
    for side in sorted(shown, key=sorted):
        boot = lookup.get(side, (np.nan, np.nan))[0]
        right = compatible(side, true_splits, tips)
        conc, delta = concordance.get(side) or concordance[tips - side]
        strong = not fit.weak(boot, conc, delta)
        rows.append((float(boot), conc, right, strong, not is_weak(boot, conc, delta)))
    return Scored(
        recall=len(true_splits & shown) / len(true_splits),
        wrong=sum(not row[2] for row in rows),
        clades=len(shown),
        nrf=robinson_foulds(tree, truth),
        delta=fit.likeness.delta,
        clade_rows=rows,
    )


def calibration_lines(
    rows: list[tuple[float, float, bool, bool, bool]], column: int, what: str
) -> list[str]:
    """Share of right clades among those at or above each threshold."""
    out = []
    for threshold in THRESHOLDS:
        chosen = [r for r in rows if r[column] >= threshold]
        right = sum(r[2] for r in chosen)
        share = f"{right / len(chosen):.2f}" if chosen else "–"
        out.append(f"{what} ≥ {threshold:.0%}: {right}/{len(chosen)} right ({share})")
    return out


def calibration_section(groups: dict[str, list[Scored]]) -> list[str]:
    """The report's calibration section: each group's clades pooled over its lineages."""
    lines = ["", "## Calibration (pooled over lineages)", ""]
    for name, scored in groups.items():
        rows = [row for s in scored for row in s.clade_rows]
        lines.append(f"- **{name}** ({len(rows)} clades shown):")
        lines.append("  " + "; ".join(calibration_lines(rows, 0, "bootstrap")))
        lines.append("  " + "; ".join(calibration_lines(rows, 1, "concordance")))
        lines.append("  " + strong_line(rows))
    return lines


def strong_line(rows: list[tuple[float, float, bool, bool, bool]]) -> str:
    """Right clades among those shown strong, and among those the per-branch cuts alone pass."""
    out = []
    for column, what in ((3, "shown strong (not weak)"), (4, "by the per-branch cuts alone")):
        chosen = [r for r in rows if r[column]]
        right = sum(r[2] for r in chosen)
        share = f" ({right / len(chosen):.2f})" if chosen else ""
        out.append(f"{what}: {right}/{len(chosen)} right{share}")
    return "; ".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="what lineage_zoo.py wrote")
    parser.add_argument("-o", "--out", type=Path, help="markdown report (default: stdout)")
    parser.add_argument("--resamples", type=int, default=100)
    args = parser.parse_args()
    files = sorted(args.folder.glob("*.jsonl"))
    if not files:
        print(f"{args.folder}: no populations files", file=sys.stderr)
        return 2
    results: dict[tuple[str, str, str, str], Scored] = {}
    start = time.perf_counter()
    for path in files:
        lineage, setting = path.name.removesuffix(".jsonl").rsplit(".", 1)
        truth = (args.folder / f"{lineage}.truth.nwk").read_text().strip()
        for distance in DISTANCES:
            for method in METHODS:
                found = pipeline.tree(
                    None, [path], method=method, distance=distance,  # type: ignore[arg-type]
                    resamples=args.resamples, benchmarks_hint=False,
                )  # fmt: skip
                results[(lineage, setting, distance, method)] = score(found, truth)
    elapsed = time.perf_counter() - start
    lines = [
        "# Lineage recovery on known fine-tuning lineages",
        "",
        f"`python benchmarks/bench_lineages.py {args.folder}` ({len(files)} populations files, "
        f"{elapsed:.0f} s; machine: {platform.machine()}, Python {platform.python_version()}). "
        "The lineages are grown by `benchmarks/lineage_zoo.py` (see its docstring and "
        "`phylolm_harness/demo/lineages.py`). Settings: `draws` is the exact task's default "
        "expansion (pruned mass estimated by draws, `tail_samples: 16`); `notail` the same "
        "expansion with the pruned mass left out (`tail_samples: 0`). The populations files "
        "(about 40 MB) are not kept in the repository: `lineage_zoo.py` makes them again.",
        "",
        "## Per lineage",
        "",
        "| lineage | setting | distance | method | clade recall | wrong clades | nRF | δ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (lineage, setting, distance, method), s in sorted(results.items()):
        lines.append(
            f"| {lineage} | {setting} | {distance} | {method} | {s.recall:.2f} | "
            f"{s.wrong}/{s.clades} | {s.nrf:.3f} | {s.delta:.3f} |"
        )
    lines += [
        "",
        "## Summary (mean over lineages)",
        "",
        "| setting | distance | method | lineages | clade recall | wrong clades | nRF |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str, str], list[Scored]] = defaultdict(list)
    for (_, setting, distance, method), s in results.items():
        groups[(setting, distance, method)].append(s)
    for (setting, distance, method), scored in sorted(groups.items()):
        lines.append(
            f"| {setting} | {distance} | {method} | {len(scored)} | "
            f"{np.mean([s.recall for s in scored]):.2f} | "
            f"{sum(s.wrong for s in scored)}/{sum(s.clades for s in scored)} | "
            f"{np.mean([s.nrf for s in scored]):.3f} |"
        )
    lines += calibration_section({", ".join(key): scored for key, scored in sorted(groups.items())})
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
