"""A ``tree`` or ``predict`` killed at any moment leaves the previous output set whole."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.results_layout import write_benchmark_run, write_run

pytestmark = pytest.mark.slow

GENES = [f"math-{i:03d}" for i in range(8)]
KILLS = 10


def results(root: Path) -> Path:
    rng = np.random.default_rng(0)
    words = {"a": ["alph", "alps", "beta"], "b": ["beta", "bets", "alph"], "c": ["gamm", "alph"]}
    for name, style in words.items():
        for copy in "12":
            conts = {g: [str(rng.choice(style)) for _ in range(16)] for g in GENES}
            write_run(root, f"/m/{name}{copy}", conts)
            write_benchmark_run(root, f"/m/{name}{copy}", "mmlu", "acc", 0.4, "2026-02-01T00-00")
    return root


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "phylolm_harness", *args]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGINT])
def test_killed_runs_leave_the_old_or_the_new_set(tmp_path, signal_number):
    root = results(tmp_path / "r")
    out = tmp_path / "out"
    old_args = ("tree", str(root), "-o", str(out), "--method", "upgma", "--resamples", "5")
    new_args = ("predict", str(root), "-o", str(out), "--resamples", "5")
    subprocess.run(command(*old_args), check=True, capture_output=True)
    old = snapshot(out)
    start = time.perf_counter()
    subprocess.run(command(*new_args), check=True, capture_output=True)
    duration = time.perf_counter() - start
    new = snapshot(out)
    assert old != new and "predictions.csv" in new and "predictions.csv" not in old
    rng = np.random.default_rng(int(signal_number))
    outcomes = set()
    for delay in rng.uniform(0.7 * duration, 1.05 * duration, size=KILLS):
        subprocess.run(command(*old_args), check=True, capture_output=True)
        process = subprocess.Popen(
            command(*new_args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        process.send_signal(signal_number)
        process.wait()
        now = snapshot(out)
        assert now in (old, new), sorted(now)
        outcomes.add("new" if now == new else "old")
    assert outcomes, "no kill was tried"
