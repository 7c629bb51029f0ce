"""What the known lineages' models carry of their history: scores on every edge's own text.

A ceiling for any method that reads model outputs. The lineages of ``benchmarks/lineage_zoo.py``
are grown again (the same seeds give the same models); every leaf scores held-out documents of
every fine-tune's own corpus (the edge's text kind and vocabulary, lines it was not tuned on) and
generic documents of each kind (the fixed words). For each edge, the *trace* is how much more
its descendants than the other leaves like its text, after each leaf's liking of generic text of
that kind is taken off (log-likelihood per byte, nats). A tree is then built from those
kind-corrected edge profiles: it uses knowledge no black-box user has (each edge's training
text), so its normalized Robinson-Foulds distance bounds what outputs can tell on that lineage::

    python benchmarks/bench_lineage_ceiling.py benchmarks/results/lineages-held-out --held-out \\
        -o benchmarks/results/lineages-ceiling.md

Scores are kept beside the populations files (``LINEAGE.ceiling.npz``) and reused.
"""

from __future__ import annotations

import copy
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from lineage_zoo import command_line, emit, scored_lineages

from phylolm_harness.core.tree import build_tree, from_newick, robinson_foulds, splits
from phylolm_harness.demo.corpus import synthetic_corpus
from phylolm_harness.demo.lineages import Lineage, grow_lineage, score_passages

KINDS = ("code", "math", "prose")
DOCS = 12
"""Held-out documents per edge and per generic kind."""
HELD_OUT_SEED = 777_777
"""Added to an edge's seed for its held-out documents (the fine-tune used the seed itself)."""
GENERIC_SEED = 4242


def collect(lineage: Lineage, root: torch.nn.Module, tokenizer: object, path: Path) -> None:
    """Grow a lineage; every leaf scores every edge's held-out text and the generic texts."""
    leaves: dict[str, torch.nn.Module] = {}
    grow_lineage(
        lineage, root, tokenizer, lambda label, m: leaves.update({label: copy.deepcopy(m)})
    )
    edges = [e for e in lineage.edges if e.change == "fine-tune"]
    texts: list[str] = []
    tags: list[str] = []
    for e in edges:
        docs = synthetic_corpus(e.kind, DOCS, seed=e.seed + HELD_OUT_SEED, vocabulary=e.seed)
        texts += docs
        tags += [e.child] * len(docs)
    for kind in KINDS:
        docs = synthetic_corpus(kind, DOCS, seed=GENERIC_SEED)
        texts += docs
        tags += [f"kind:{kind}"] * len(docs)
    labels = list(leaves)
    loglik = np.stack([score_passages(leaves[label], tokenizer, texts) for label in labels])
    np.savez(
        path,
        models=np.array(labels),
        texts=np.array(texts),
        tag=np.array(tags),
        loglik=loglik,
        edges=np.array([(e.child, e.parent, e.kind) for e in edges]),
    )


def rms_distances(features: np.ndarray) -> np.ndarray:
    """Root mean square difference of every two rows."""
    diff = features[:, None, :] - features[None, :, :]
    distances: np.ndarray = np.sqrt((diff**2).mean(axis=2))
    return distances


def analyse(path: Path, truth_newick: str) -> tuple[list[str], dict[str, float], str]:
    """Per-edge traces (table rows), the ceiling trees' nRF, and the clades read edge by edge."""
    saved = np.load(path)
    models = [str(m) for m in saved["models"]]
    tags = np.array([str(t) for t in saved["tag"]])
    nbytes = np.array([len(str(t).encode("utf-8")) for t in saved["texts"]])
    per_byte = saved["loglik"] / nbytes
    edges = [tuple(map(str, e)) for e in saved["edges"]]
    parent = {child: par for child, par, _ in edges}

    def ancestors(leaf: str) -> set[str]:
        found, node = set(), leaf
        while node in parent:
            found.add(node)
            node = parent[node]
        return found

    generic = {k: per_byte[:, tags == f"kind:{k}"].mean(axis=1) for k in KINDS}
    raw = np.stack([per_byte[:, tags == child].mean(axis=1) for child, _, _ in edges], axis=1)
    corrected = raw - np.stack([generic[kind] for _, _, kind in edges], axis=1)
    rows = []
    truth = from_newick(truth_newick)
    true_splits = splits(truth)
    tips = frozenset(models)
    for k, (child, _, kind) in enumerate(edges):
        below = np.array([child in ancestors(m) for m in models])
        if below.all() or not below.any():
            continue
        side = frozenset(np.array(models)[below].tolist())
        named = side if min(tips) not in side else tips - side
        clade = "yes" if below.sum() > 1 and named in true_splits else "–"
        trace = corrected[below, k].mean() - corrected[~below, k].mean()
        spread = corrected[:, k].std()
        rows.append(
            f"| {path.name.split('.')[0]} | {child} | {kind} | {int(below.sum())} | {clade} | "
            f"{raw[below, k].mean() - raw[~below, k].mean():+.3f} | {trace:+.3f} | "
            f"{trace / spread if spread else 0.0:+.1f} |"
        )
    read: set[frozenset[str]] = set()
    for k in range(len(edges)):  # each edge's text on its own: the leaves above its largest gap
        values = np.sort(corrected[:, k])
        cut = values[int(np.argmax(np.diff(values)))]
        high = frozenset(np.array(models)[corrected[:, k] > cut].tolist())
        if 2 <= len(high) <= len(models) - 2:
            read.add(high if min(tips) not in high else tips - high)
    clades = (
        f"| {path.name.split('.')[0]} | {len(true_splits)} | {len(read & true_splits)} | "
        f"{len(read - true_splits)} |"
    )
    nrf = {}
    for name, features in (("edge texts", raw), ("edge texts, kind-corrected", corrected)):
        distances = rms_distances(features)
        for method in ("nj", "upgma"):
            tree = build_tree(distances, models, method)  # type: ignore[arg-type]
            nrf[f"{name}, {method}"] = robinson_foulds(tree, truth)
    return rows, nrf, clades


def main() -> int:
    args, chosen, collect_s = scored_lineages(__doc__.splitlines()[0], ".ceiling.npz", collect)
    rows: list[str] = []
    trees: list[str] = []
    clades: list[str] = []
    for lineage in chosen:
        found, nrf, read = analyse(args.folder / f"{lineage.name}.ceiling.npz", lineage.true_tree)
        rows += found
        trees += [f"| {lineage.name} | {how} | {value:.3f} |" for how, value in nrf.items()]
        clades.append(read)
    lines = [
        "# What the lineages' models carry of their history",
        "",
        f"`{command_line(args, 'bench_lineage_ceiling.py')}` (machine: {platform.machine()}, "
        f"Python {platform.python_version()}"
        + (f"; growing and scoring {collect_s:.0f} s" if collect_s else "")
        + f"). Every leaf scores {DOCS} held-out documents of every fine-tune's own corpus "
        f"(its kind and vocabulary, lines it was not tuned on) and {DOCS} generic documents of "
        "each kind. *Raw*: how much more (nats per byte) the edge's descendants than the other "
        "leaves like its text; *trace*: the same after each leaf's liking of generic text of "
        "that kind is taken off; *z*: the trace over the spread of all leaves. *Clade*: the "
        "edge defines a clade of two or more leaves of the true tree.",
        "",
        "| lineage | edge | kind | leaves below | clade | raw | trace | z |",
        "|---|---|---|---:|---|---:|---:|---:|",
        *rows,
        "",
        "Trees from every leaf's scores on the edges' texts (root mean square distance), "
        "against the true tree. They use each edge's training text, which a black-box user does "
        "not have: a ceiling, not a method.",
        "",
        "| lineage | profile and method | nRF |",
        "|---|---|---:|",
        *trees,
        "",
        "Clades read from each edge's text on its own (the leaves above the largest gap in its "
        "trace, when they are 2 or more and not all but one), against the true tree's clades:",
        "",
        "| lineage | true clades | read and true | read and wrong |",
        "|---|---:|---:|---:|",
        *clades,
    ]
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
