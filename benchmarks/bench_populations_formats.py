"""Read populations files of 1,000 and 10,000 models: JSON Lines, Parquet, and an older reader.

Populations come from ``tests/support/synthetic_populations.py`` (256 genes, 8 to 80 alleles per
gene). Each file is written as JSON Lines, then as the Parquet form ``tree`` writes
(``populations.parquet``); each reading runs in a fresh process (the wall time of the reading
alone, and the process's peak resident memory):

- this checkout's reader on the JSON Lines file (``orjson``, a block of lines at a time);
- this checkout's reader on the Parquet file (``pyarrow``);
- the reader of another checkout (``--old DIR``, e.g. a ``git worktree`` of an older commit) on
  the JSON Lines file.

Every reading of one size must give the same observations (checked by a digest of the JSON Lines
form :func:`~phylolm_harness.io.populations_file.format_populations_file` writes of them)::

    git worktree add /tmp/phylolm-old 0c20bea
    python benchmarks/bench_populations_formats.py --old /tmp/phylolm-old \\
        -o benchmarks/results/populations_formats.md
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

from support.synthetic_populations import write  # noqa: E402

_READ = (
    "import hashlib, resource, sys, time\n"
    "from pathlib import Path\n"
    "from phylolm_harness.io.populations_file import format_populations_file, "
    "read_populations_file\n"
    "read_populations_file(Path(sys.argv[2]))  # compiled code, if any, is compiled and cached\n"
    "start = time.perf_counter()\n"
    "table = read_populations_file(Path(sys.argv[1]))\n"
    "wall = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20\n"
    "digest = hashlib.sha256(format_populations_file(table).encode()).hexdigest()[:12]\n"
    "print(f'{wall:.2f}\\t{peak:.2f}\\t{digest}')\n"
)


def read_in_fresh_process(path: Path, warm: Path, checkout: Path) -> tuple[float, float, str]:
    """Wall seconds of the reading, peak GB of the process, digest of what was read."""
    env = dict(os.environ, PYTHONPATH=str(checkout))
    with tempfile.TemporaryDirectory() as cwd:  # not a checkout: import the one on PYTHONPATH
        done = subprocess.run(
            [sys.executable, "-c", _READ, str(path), str(warm)],
            env=env, cwd=cwd, capture_output=True, text=True, check=True,
        )  # fmt: skip
    wall, peak, digest = done.stdout.strip().split("\t")
    return float(wall), float(peak), digest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--old", type=Path, help="another checkout, to time its reader")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pop-formats")
    parser.add_argument("-o", "--out", type=Path, help="markdown report (default: stdout)")
    args = parser.parse_args()

    from phylolm_harness.io.populations_file import read_populations_file
    from phylolm_harness.io.populations_parquet import parquet_chunks

    args.work.mkdir(parents=True, exist_ok=True)
    warm = args.work / "warm.jsonl"
    write(warm, 4, n_genes=8)
    rows = []
    for n in args.sizes:
        lines = args.work / f"{n}.jsonl"
        if not lines.is_file():
            write(lines, n)
        parquet = args.work / f"{n}.parquet"
        start = time.perf_counter()
        table = read_populations_file(lines)
        with parquet.open("wb") as handle:
            for chunk in parquet_chunks(table):
                handle.write(chunk)
        converted = time.perf_counter() - start
        del table
        readings = {
            "JSON Lines, this reader": read_in_fresh_process(lines, warm, REPO),
            "Parquet, this reader": read_in_fresh_process(parquet, warm, REPO),
        }
        if args.old is not None:
            readings["JSON Lines, older reader"] = read_in_fresh_process(lines, warm, args.old)
        digests = {digest for _, _, digest in readings.values()}
        assert len(digests) == 1, f"{n} models: the readers disagree: {readings}"
        for how, (wall, peak, _) in readings.items():
            path = parquet if how.startswith("Parquet") else lines
            rows.append(
                f"| {n:,} | {how} | {path.stat().st_size / 2**20:,.0f} | {wall:.2f} | {peak:.2f} |"
            )
        rows.append(f"| {n:,} | (reading JSON Lines and writing Parquet, in-process) | | "
                    f"{converted:.1f} | |")  # fmt: skip
    lines_out = [
        "# Reading populations files: JSON Lines and Parquet",
        "",
        f"`python benchmarks/bench_populations_formats.py"
        f"{' --old ' + str(args.old) if args.old else ''}` (machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}). Synthetic populations of "
        "`tests/support/synthetic_populations.py` (256 genes). Each reading in a fresh process "
        "after a small file was read (so compiled code, where there is some, is compiled and "
        "cached); time is the reading's wall clock, memory the process's peak resident set. "
        "Every reading of one size gave the same observations (digest of their JSON Lines form).",
        "",
        "| models | file and reader | MB | seconds | peak GB |",
        "|---:|---|---:|---:|---:|",
        *rows,
    ]
    text = "\n".join(lines_out) + "\n"
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
