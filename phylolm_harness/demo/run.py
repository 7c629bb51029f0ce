"""One-command offline demo: the family tree of real models whose history is known.

``phylolm-harness demo`` converts two real models shipped in package-index wheels
(SmolLM2-135M-Instruct and Gemma-3-270M, see :mod:`phylolm_harness.demo.registry`), derives
relatives with a known history (short fine-tunes on different text, an int8 round-trip, light
weight noise; see :mod:`phylolm_harness.demo.population`), runs the real ``lm_eval`` command
with this plugin's PhyloLM tasks on every model (:mod:`phylolm_harness.demo.collection`),
builds the tree as ``phylolm-harness tree`` does, and says which of the known relations the
tree recovered.

Everything is cached under the user cache folder: the converted and derived models (each with a
completion marker holding its checksum) and the lm-eval outputs of each model (keyed by the
model's checksum and the task settings), so a second run only redraws the outputs.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from phylolm_harness import pipeline
from phylolm_harness.core.tree import from_newick, splits, to_newick
from phylolm_harness.demo.cache import require_conversion_extras
from phylolm_harness.demo.collection import Mode, collect
from phylolm_harness.demo.population import Population, demo_population, family_of, prepare_models
from phylolm_harness.errors import InputError
from phylolm_harness.io.files import write_outputs
from phylolm_harness.io.packaged import default_cache_dir
from phylolm_harness.report.outputs import OUTPUT_PATTERNS
from phylolm_harness.report.plots import draw_map

__all__ = ["Recovery", "compare_with_truth", "run_demo"]


@dataclass(frozen=True)
class Recovery:
    """How the inferred tree compares with the true one."""

    clades: tuple[tuple[str, bool], ...]
    """Each known clade (as ``"{a, b}"``) and whether the tree has it."""
    rf: int
    """Unrooted Robinson–Foulds distance (number of splits in one tree only)."""
    best_rf: int
    """Smallest RF a fully resolved tree can reach (true multifurcations count once each)."""
    families_separated: bool | None
    """Whether every registry family is a clade (None with a single family)."""


def compare_with_truth(
    inferred: str, true_tree: str, families: Sequence[frozenset[str]]
) -> Recovery:
    """Compare an inferred tree with the true tree of the demo.

    Parameters
    ----------
    inferred : str
        Newick of the inferred tree.
    true_tree : str
        Newick of the true tree (may have multifurcations).
    families : sequence of frozenset of str
        Labels of each family (models derived from one registry model).

    Returns
    -------
    Recovery
        Known clades found, RF distance and whether the families are separated.
    """
    truth, guess = from_newick(true_tree), from_newick(inferred)
    tips = frozenset(str(t.name) for t in truth.tips())
    found_tips = frozenset(str(t.name) for t in guess.tips())
    if tips != found_tips:
        raise InputError(
            f"tree tips {sorted(found_tips)} differ from the demo models {sorted(tips)}"
        )
    true_splits, found = splits(truth), splits(guess)
    anchor = min(tips)

    def canonical(side: frozenset[str]) -> frozenset[str]:
        return tips - side if anchor in side else side

    clades = tuple(
        ("{" + ", ".join(sorted(s if anchor not in s else tips - s)) + "}", s in found)
        for s in sorted(true_splits, key=lambda s: (len(s), sorted(s)))
    )
    separated = None
    if len(families) > 1:
        separated = all(canonical(f) in found for f in families if 1 < len(f) < len(tips) - 1)
    return Recovery(
        clades=clades,
        rf=len(true_splits ^ found),
        best_rf=len(tips) - 3 - len(true_splits),
        families_separated=separated,
    )


def _demo_section(
    population: Population,
    recovery: Recovery,
    mode: Mode,
    genes: int | None,
    timings: dict[str, float],
) -> str:
    """Markdown of the demo report."""
    lines = [
        "# PhyloLM demo",
        "",
        f"{len(population.models)} models with a known history, probed with the real `lm_eval` "
        f"command ({mode} alleles, {'all' if genes is None else genes} genes per genome).",
        "",
        "| model | how it was made |",
        "|---|---|",
        *(f"| {m.label} | {m.description} |" for m in population.models),
        "",
        f"True tree (unrooted): `{population.true_tree}`",
        "",
        "## Known relations recovered",
        "",
        *(f"- {clade}: {'recovered' if ok else 'NOT recovered'}" for clade, ok in recovery.clades),
    ]
    if recovery.families_separated is not None:
        lines.append(f"- families separated: {'yes' if recovery.families_separated else 'no'}")
    note = ""
    if recovery.best_rf:
        note = (
            f" (the true tree has {recovery.best_rf} multifurcation(s): a base model whose "
            f"fine-tunes and the outgroup all branch from it; any binary tree resolves it "
            f"arbitrarily, so {recovery.best_rf} is the best possible)"
        )
    lines += [
        f"- Robinson-Foulds distance to the true tree: {recovery.rf}{note}",
        "",
        "Files: `tree.png` (the tree), `tree.html` (the same tree to search, fold and hover "
        "in a browser), `heatmap.png` (distances in tree order), `pcoa.png` "
        "(2-D principal coordinates of the distances), `distances.csv`, `tree.nwk`, `report.md`.",
        "",
        "Timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()),
        "",
    ]
    return "\n".join(lines)


def _pcoa_png(labels: list[str], distances: NDArray[np.float64]) -> bytes:
    """PCoA map of a distance matrix."""
    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa

    sym = (distances + distances.T) / 2.0
    np.fill_diagonal(sym, 0.0)
    result = pcoa(DistanceMatrix(sym, ids=labels), number_of_dimensions=2)
    coords = result.samples.to_numpy(dtype=np.float64)[:, :2]
    ratio = result.proportion_explained.to_numpy()[:2]
    title = f"PCoA of Nei distances (axes explain {ratio[0]:.0%} and {ratio[1]:.0%})"
    return draw_map(coords, labels, title)


# ----------------------------------------------------------------------------- entry point


def _check_ready(mode: Mode) -> None:
    """Fail early when the plugin's lm-eval pieces or the demo extra are missing."""
    require_conversion_extras()
    if importlib.util.find_spec("lm_eval") is None:
        raise InputError("the demo runs lm_eval: pip install 'lm-eval==0.4.13'")
    if mode == "exact" and importlib.util.find_spec("phylolm_harness.collect.models.hf") is None:
        raise InputError("exact mode needs phylolm_harness.collect.models.hf; use --mode sampled")


def run_demo(
    out_dir: Path,
    cache_dir: Path | None = None,
    genes: int | None = None,
    quick: bool = False,
    mode: Mode = "exact",
    jobs: int = 2,
) -> int:
    """Run the whole demo and write its outputs.

    Parameters
    ----------
    out_dir : Path
        Output folder: ``results/`` (lm-eval outputs), the ``phylolm-harness tree`` outputs,
        ``pcoa.png`` and ``demo.md``.
    cache_dir : Path, optional
        Cache root for wheels, models and lm-eval outputs (default: the user cache folder).
    genes : int, optional
        Genes per genome (lm-eval ``--limit``); default 32, or 12 with ``quick``.
    quick : bool
        SmolLM2's family only, math genome only.
    mode : {"exact", "sampled"}
        Exact allele distributions (default) or 32 sampled continuations per gene.
    jobs : int
        ``lm_eval`` processes at once.

    Returns
    -------
    int
        0 when every known relation was recovered, 1 otherwise.
    """
    if genes is not None and genes < 3:
        raise InputError(f"--genes must be at least 3, got {genes}")
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    genes = genes if genes is not None else (12 if quick else 32)
    _check_ready(mode)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    messages: list[str] = []

    def say(message: str) -> None:
        messages.append(message)
        print(message, file=sys.stderr, flush=True)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    population = demo_population(quick)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    folders = prepare_models(population, cache, say)
    timings["models"] = time.perf_counter() - start
    start = time.perf_counter()
    cached = collect(
        folders, out / "results", cache,
        mode=mode, quick=quick, genes=genes, jobs=jobs, say=say,
    )  # fmt: skip
    timings["lm_eval"] = time.perf_counter() - start
    reused = sum(cached.values())
    if reused:
        say(f"reused cached lm_eval outputs of {reused} of {len(cached)} models")

    start = time.perf_counter()
    found = pipeline.tree(out / "results")
    files = found.files()
    phylogeny = found.phylogeny
    if phylogeny.tree is None:
        raise InputError(f"no tree: {phylogeny.why_no_tree}")
    inferred = to_newick(phylogeny.tree)
    families = [
        frozenset(m.label for m in population.models if family_of(population, m) == r.name)
        for r in population.registry
    ]
    recovery = compare_with_truth(inferred, population.true_tree, families)
    timings["tree"] = time.perf_counter() - start
    files["pcoa.png"] = _pcoa_png(list(phylogeny.labels), phylogeny.distances)
    files["demo.md"] = _demo_section(population, recovery, mode, genes, timings).encode()
    write_outputs(out, files, stale=OUTPUT_PATTERNS)
    pops = phylogeny.populations
    print(f"{len(pops.models)} models, {len(pops.genes)} genes -> {out}")
    for note in found.notes:
        print(f"note: {note}")
    recovered = sum(ok for _, ok in recovery.clades)
    print(f"tree: {inferred.strip()}")
    print(
        f"known relations recovered: {recovered}/{len(recovery.clades)}; "
        f"Robinson-Foulds distance {recovery.rf} (best possible {recovery.best_rf})"
        + (
            f"; families separated: {'yes' if recovery.families_separated else 'no'}"
            if recovery.families_separated is not None
            else ""
        )
    )
    print(f"outputs in {out} (demo.md, tree.png, tree.html, heatmap.png, pcoa.png, report.md)")
    return 0 if recovered == len(recovery.clades) and recovery.rf == recovery.best_rf else 1
