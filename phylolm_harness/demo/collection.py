"""Run the real ``lm_eval`` command with the PhyloLM tasks on every demo model, with a cache.

The outputs of each model are cached under ``cache_dir / "results"``, keyed by the model's
checksum, the task files, the collection code, the genomes and the versions of lm-eval and this
package; a second run reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Literal

from phylolm_harness.demo.cache import build_folder_atomically, marker_checksum, verify_marker
from phylolm_harness.errors import InputError
from phylolm_harness.io.files import staged_folder

__all__ = ["Mode", "collect"]

Mode = Literal["exact", "sampled"]


def _tasks_folder() -> Path:
    """Folder of this plugin's lm-eval task YAML files."""
    from phylolm_harness.collect.tasks_location import tasks_dir

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
    package = Path(__file__).resolve().parent.parent
    return [package / "core" / "alleles.py", *sorted((package / "collect").rglob("*.py"))]


def _collection_key(
    model_checksum: str, lm_model: str, task: str, task_files: Sequence[Path], genes: int | None
) -> str:
    """Cache key of one model's lm-eval outputs."""
    import lm_eval

    import phylolm_harness
    from phylolm_harness.genomes.genome import load_genome

    package = Path(phylolm_harness.__file__).resolve().parent
    parts = {
        "model": model_checksum,
        "lm_model": lm_model,
        "task": task,
        "tasks": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in task_files},
        "code": {
            p.relative_to(package).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in _collection_code()
        },
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
    """Run lm_eval offline with a thread budget; raise with the log's last line on failure."""
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
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        last = lines[-1].strip() if lines else "no output"
        raise InputError(f"lm_eval failed (exit {result.returncode}): {last} (full log: {log})")


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
                logs = cache_dir / "logs"
                logs.mkdir(parents=True, exist_ok=True)
                _run_lm_eval(cmd, threads, logs / f"{label}.log")
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
