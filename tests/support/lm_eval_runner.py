"""Run the real ``lm_eval`` command the way the tests need it: offline, one thread, checked."""

from __future__ import annotations

import os
import subprocess
import sys

FAMILY_GENES = 24
"""Genes of each shipped genome in the tiny family's sampled runs (``family_results``)."""
FAMILY_PROBES = 32
"""Sampled continuations per gene in those runs (the tasks' default)."""


def lm_eval_env() -> dict[str, str]:
    """Environment of an offline ``lm_eval`` run on this machine's CPU."""
    return dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )


def run_lm_eval(
    *args: str,
    timeout: int = 900,
    python: str | os.PathLike[str] = sys.executable,
    env: dict[str, str] | None = None,
) -> None:
    """Run ``python -m lm_eval ARGS``; fail the test with the end of its stderr if it fails.

    ``python`` picks another environment (vLLM's); ``env`` adds variables.
    """
    command = [str(python), "-m", "lm_eval", *args]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**lm_eval_env(), **(env or {})},
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
