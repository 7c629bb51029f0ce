"""Lineage recovery from likelihood profiles, next to allele frequencies, on the known lineages.

Grows the lineages of ``benchmarks/lineage_zoo.py`` again (the same seeds give the same models),
has every released model write its passages (:func:`phylolm_harness.demo.lineages.write_passages`,
what ``phylolm_passages_write`` samples inside ``lm_eval``), pools them, and has every model score
every passage (:func:`~phylolm_harness.demo.lineages.score_passages`, what ``phylolm_passages``
computes
with ``loglikelihood_rolling``). The log-likelihoods are kept beside the populations files
(``LINEAGE.likelihood.npz``); the tree of :mod:`phylolm_harness.core.likelihood` is scored against
the truth with the measures of ``bench_lineages.py``, next to the allele tree (Nei, NJ, no tail)
of the same lineage where its populations file is there::

    python benchmarks/bench_lineage_likelihood.py benchmarks/results/lineages \\
        -o benchmarks/results/lineages-likelihood.md
    python benchmarks/bench_lineage_likelihood.py benchmarks/results/lineages-held-out --held-out \\
        -o benchmarks/results/lineages-likelihood-held-out.md

A lineage whose ``.likelihood.npz`` is present is not grown again.
"""

from __future__ import annotations

import copy
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_lineages import Scored, calibration_section, score, score_tree
from lineage_zoo import LR, command_line, emit, scored_lineages

from phylolm_harness import pipeline
from phylolm_harness.core.likelihood import Profiles, infer_likelihood_tree
from phylolm_harness.demo.lineages import Lineage, grow_lineage, score_passages, write_passages

METHODS = ("nj", "bme", "upgma")


def collect(lineage: Lineage, root: torch.nn.Module, tokenizer: object, path: Path) -> None:
    """Grow a lineage, have every leaf write and score the pooled passages, save the scores."""
    leaves: dict[str, torch.nn.Module] = {}
    grow_lineage(
        lineage, root, tokenizer, lambda label, m: leaves.update({label: copy.deepcopy(m)})
    )
    labels = list(leaves)
    texts = [
        t for i, label in enumerate(labels) for t in write_passages(leaves[label], tokenizer, i)
    ]
    loglik = np.stack([score_passages(leaves[label], tokenizer, texts) for label in labels])
    np.savez(path, models=np.array(labels), texts=np.array(texts), loglik=loglik)


def profiles_of(path: Path) -> Profiles:
    """Read the scores ``collect`` saved."""
    saved = np.load(path)
    texts = [str(t) for t in saved["texts"]]
    return Profiles(
        tuple(str(m) for m in saved["models"]),
        tuple(f"passage-{i}" for i in range(len(texts))),
        saved["loglik"].astype(np.float64),
        np.array([len(t.encode("utf-8")) for t in texts], dtype=np.int64),
    )


def main() -> int:
    args, chosen, collect_s = scored_lineages(__doc__.splitlines()[0], ".likelihood.npz", collect)
    results: dict[tuple[str, str], Scored] = {}
    start = time.perf_counter()
    for lineage in chosen:
        profiles = profiles_of(args.folder / f"{lineage.name}.likelihood.npz")
        for method in METHODS:
            found = infer_likelihood_tree(profiles, method, args.resamples)  # type: ignore[arg-type]
            assert found.tree is not None and found.fit is not None
            results[(lineage.name, f"likelihood {method}")] = score_tree(
                found.tree, found.supports, found.fit, found.labels, lineage.true_tree
            )
        alleles = args.folder / f"{lineage.name}.notail.jsonl"
        if alleles.is_file():
            tree = pipeline.tree(
                None, [alleles], method="nj", resamples=args.resamples, benchmarks_hint=False
            )
            results[(lineage.name, "alleles nj (Nei)")] = score(tree, lineage.true_tree)
    elapsed = time.perf_counter() - start
    passages = len(profiles_of(args.folder / f"{chosen[0].name}.likelihood.npz").passages)
    lines = [
        "# Lineage recovery from likelihood profiles",
        "",
        f"`{command_line(args, 'bench_lineage_likelihood.py')}` ({len(chosen)} lineage(s); "
        "trees and "
        f"{args.resamples} passage resamples each {elapsed:.0f} s"
        + (f", growing and scoring {collect_s:.0f} s" if collect_s else "")
        + f"; machine: {platform.machine()}, Python {platform.python_version()}). "
        f"Every released model writes 16 passages (8 prompts, 2 samples each, 48 tokens at "
        f"temperature 1); every model scores all of them ({passages} in the first lineage). "
        "`alleles nj (Nei)` is the allele tree of the same lineage (exact, no tail, 256 genes), "
        "as `bench_lineages.py` scores it. Lineages and their fine-tunes (learning rate "
        f"{LR}): `benchmarks/lineage_zoo.py`.",
        "",
        "## Per lineage",
        "",
        "| lineage | models | signal and method | clade recall | wrong clades | nRF | δ |",
        "|---|---|---|---|---|---|---|",
    ]
    sizes = {lin.name: len(lin.leaves) for lin in chosen}
    for (name, how), s in sorted(results.items()):
        lines.append(
            f"| {name} | {sizes[name]} | {how} | {s.recall:.2f} | {s.wrong}/{s.clades} | "
            f"{s.nrf:.3f} | {s.delta:.3f} |"
        )
    lines += [
        "",
        "## Summary (mean over lineages)",
        "",
        "| signal and method | lineages | clade recall | wrong clades | nRF |",
        "|---|---|---|---|---|",
    ]
    for how in sorted({how for _, how in results}):
        scored = [s for (_, h), s in results.items() if h == how]
        lines.append(
            f"| {how} | {len(scored)} | {np.mean([s.recall for s in scored]):.2f} | "
            f"{sum(s.wrong for s in scored)}/{sum(s.clades for s in scored)} | "
            f"{np.mean([s.nrf for s in scored]):.3f} |"
        )
    lines += calibration_section(
        {h: [s for (_, k), s in results.items() if k == h] for h in sorted({h for _, h in results})}
    )
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
