"""A ``tree`` or ``predict`` killed at any moment leaves the previous output set whole.

Kills at random moments (old or new set, never a mix), and kills that land for certain while the
new set is being written (an audit hook signals the process as it opens its nth output file).
"""

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


KILL_AT_WRITE = """
import os, runpy, sys
signal_number, nth = int(sys.argv[1]), int(sys.argv[2])
opened = []

def hook(event, args):
    # the nth file opened for writing in the staging folder of the new set: half of it is written
    if event == "open" and not isinstance(args[0], int) and ".out.new-" in os.fsdecode(args[0]):
        if "w" in (args[1] or "") or (args[2] or 0) & (os.O_WRONLY | os.O_RDWR):
            opened.append(args[0])
            if len(opened) == nth:
                os.kill(os.getpid(), signal_number)

sys.addaudithook(hook)
sys.argv = ["phylolm-harness", *sys.argv[3:]]
runpy.run_module("phylolm_harness", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.parametrize("nth", [1, 3])
def test_a_kill_while_the_new_set_is_written_leaves_the_old_set(tmp_path, signal_number, nth):
    """The kill lands, for certain, after some files of the new set were written."""
    root = results(tmp_path / "r")
    out = tmp_path / "out"
    old_args = ("tree", str(root), "-o", str(out), "--method", "upgma", "--resamples", "5")
    subprocess.run(command(*old_args), check=True, capture_output=True)
    old = snapshot(out)
    new_args = ("predict", str(root), "-o", str(out), "--resamples", "5")
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_WRITE, str(int(signal_number)), str(nth), *new_args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (-signal.SIGKILL, 130), done.stderr  # killed, or interrupted
    assert snapshot(out) == old
    if signal_number == signal.SIGINT:  # an interrupt cleans its staging folder up
        assert not list(tmp_path.glob(".out.new-*"))
