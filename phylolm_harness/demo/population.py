"""The demo's models: real registry models and relatives derived from them with a known history."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from phylolm_harness.demo.cache import (
    build_folder_atomically,
    check_free_space,
    marker_checksum,
    verify_marker,
)
from phylolm_harness.demo.registry import GEMMA3, SMOLLM2, RegistryModel, ensure_model

__all__ = ["DemoModel", "Population", "demo_population", "family_of", "prepare_models"]

ChangeKind = Literal["registry", "fine-tune-code", "fine-tune-prose", "int8", "noise"]

DERIVE_VERSION = "2"
"""Bumped whenever a change below makes different weights from the same parent."""

FINE_TUNE_STEPS = 10
"""Optimisation steps of each demo fine-tune (batches of 2 windows of 32 tokens)."""

FINE_TUNE_LAYERS = 4
"""The demo fine-tunes train the last this many transformer blocks."""

FINE_TUNE_LR = 1e-3
"""Learning rate of the demo fine-tunes."""

NOISE_SCALE = 0.02
"""Relative standard deviation of the demo weight noise."""


@dataclass(frozen=True)
class DemoModel:
    """One model of the demo population and how it is made.

    Attributes
    ----------
    label : str
        Name in the tree (also its folder name in the cache).
    parent : str
        Label of the parent, or the registry model's name for converted models.
    change : str
        ``"registry"``, ``"fine-tune-code"``, ``"fine-tune-prose"``, ``"int8"`` or ``"noise"``.
    seed : int
        Seed of the change.
    """

    label: str
    parent: str
    change: ChangeKind
    seed: int = 0

    @property
    def description(self) -> str:
        """One line saying how the model was made."""
        what = {
            "registry": "real weights from the package index (GGUF, dequantised to float32)",
            "fine-tune-code": f"{FINE_TUNE_STEPS} fine-tuning steps on code-like text "
            f"(last {FINE_TUNE_LAYERS} blocks)",
            "fine-tune-prose": f"{FINE_TUNE_STEPS} fine-tuning steps on English prose "
            f"(last {FINE_TUNE_LAYERS} blocks)",
            "int8": "int8 round-trip of every weight matrix",
            "noise": f"Gaussian weight noise ({NOISE_SCALE:.0%} of each matrix's std)",
        }[self.change]
        return what if self.change == "registry" else f"{self.parent} + {what}"


@dataclass(frozen=True)
class Population:
    """The demo's models, the registry models they come from, and their true tree."""

    models: tuple[DemoModel, ...]
    registry: tuple[RegistryModel, ...]
    true_tree: str


def demo_population(quick: bool) -> Population:
    """Return the demo population.

    SmolLM2 has two fine-tuned clades (code, prose), each with a further child (int8 round-trip,
    weight noise). The full demo adds Gemma-3-270M and its int8 round-trip as an outgroup family.

    Parameters
    ----------
    quick : bool
        SmolLM2's family only (5 models) instead of 7 models.

    Returns
    -------
    Population
        Models in build order (parents first) and the true unrooted tree as Newick.
    """
    smol = SMOLLM2.name
    models = [
        DemoModel(smol, smol, "registry"),
        DemoModel("smollm2-code", smol, "fine-tune-code", seed=1),
        DemoModel("smollm2-code-int8", "smollm2-code", "int8"),
        DemoModel("smollm2-prose", smol, "fine-tune-prose", seed=2),
        DemoModel("smollm2-prose-noise", "smollm2-prose", "noise", seed=3),
    ]
    smol_tree = f"(smollm2-code,smollm2-code-int8),(smollm2-prose,smollm2-prose-noise),{smol}"
    if quick:
        return Population(tuple(models), (SMOLLM2,), f"({smol_tree});")
    gemma = GEMMA3.name
    models += [DemoModel(gemma, gemma, "registry"), DemoModel("gemma3-int8", gemma, "int8")]
    return Population(tuple(models), (SMOLLM2, GEMMA3), f"({smol_tree},({gemma},gemma3-int8));")


def _apply_change(spec: DemoModel, parent: Path, dest: Path) -> None:
    """Load the parent folder, apply the spec's change and save the child into ``dest``."""
    from phylolm_harness.demo.corpus import synthetic_corpus
    from phylolm_harness.demo.relatives import (
        add_weight_noise,
        fine_tune,
        int8_round_trip,
        load_model_folder,
    )

    model, tokenizer = load_model_folder(parent)
    if spec.change in ("fine-tune-code", "fine-tune-prose"):
        kind: Literal["code", "prose"] = "code" if spec.change == "fine-tune-code" else "prose"
        texts = synthetic_corpus(kind, 64, seed=spec.seed)
        child = fine_tune(
            model, tokenizer, texts, steps=FINE_TUNE_STEPS, lr=FINE_TUNE_LR, batch_size=2,
            seq_len=32, seed=spec.seed, last_layers=FINE_TUNE_LAYERS,
        )  # fmt: skip
    elif spec.change == "int8":
        child = int8_round_trip(model)
    elif spec.change == "noise":
        child = add_weight_noise(model, NOISE_SCALE, seed=spec.seed)
    else:
        raise ValueError(spec.change)
    del model
    child.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    del child
    gc.collect()


def prepare_models(
    population: Population, cache_dir: Path, say: Callable[[str], None]
) -> dict[str, Path]:
    """Convert and derive every model of the population, reusing intact cached folders.

    Parameters
    ----------
    population : Population
        What to build.
    cache_dir : Path
        Cache root (models go to ``cache_dir / "models"``).
    say : callable
        Receives one-line messages (rebuilds of corrupted folders, say).

    Returns
    -------
    dict of str to Path
        Label -> Hugging Face folder.
    """
    from tqdm.auto import tqdm

    from phylolm_harness.demo.relatives import single_thread

    registry = {m.name: m for m in population.registry}
    folders: dict[str, Path] = {}
    with (
        single_thread(),
        tqdm(population.models, desc="preparing models", unit="model") as bar,
    ):
        for spec in bar:
            bar.set_postfix_str(spec.label)
            if spec.change == "registry":
                folders[spec.label] = ensure_model(registry[spec.parent], cache_dir, say)
                continue
            parent = folders[spec.parent]
            source = {
                "parent": spec.parent,
                "parent_checksum": marker_checksum(parent),
                "change": spec.change,
                "seed": str(spec.seed),
                "version": DERIVE_VERSION,
            }
            dest = cache_dir / "models" / spec.label
            reason = verify_marker(dest, source)
            if reason is not None:
                if reason != "missing":
                    say(f"rebuilding {dest}: {reason}")
                size = sum(p.stat().st_size for p in parent.iterdir() if p.is_file())
                check_free_space(cache_dir, 2 * size, f"model {spec.label}")
                build_folder_atomically(dest, partial(_apply_change, spec, parent), source)
            folders[spec.label] = dest
    return folders


def family_of(population: Population, model: DemoModel) -> str:
    """Name of the registry model a demo model descends from."""
    by_label = {m.label: m for m in population.models}
    while model.change != "registry":
        model = by_label[model.parent]
    return model.parent
