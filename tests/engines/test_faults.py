"""Faults between lm_eval and a real vLLM server: one clear error, and nothing written.

A loopback proxy in front of the real server refuses, garbles or drops answers; the real
``lm_eval`` command with ``phylolm-local-completions`` must stop with the plugin's one-line
``ServerError`` naming the address, and leave its output folder empty (lm-eval writes results only
at the end, and the plugin writes nothing of its own).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.fault_proxy import fault_proxy
from support.lm_eval_runner import lm_eval_env

from .conftest import Server, free_port

pytestmark = pytest.mark.slow


def _exact_run(base_url: str, server: Server, out: Path) -> subprocess.CompletedProcess[str]:
    args = (
        f"model={server.model},base_url={base_url}/v1/completions,tokenizer={server.tokenizer},"
        "tokenizer_backend=huggingface,"
        "max_retries=2,timeout=60"
    )
    return subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "phylolm-local-completions",
         "--model_args", args, "--tasks", "phylolm_genes_exact_math", "--limit", "4",
         "--output_path", str(out), "--log_samples"],
        capture_output=True, text=True, env={**lm_eval_env(), "OPENAI_API_KEY": server.api_key},
        timeout=900, check=False,
    )  # fmt: skip


def _assert_failed_cleanly(done: subprocess.CompletedProcess[str], base: str, out: Path) -> None:
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("phylolm_harness.collect.models.openai.ServerError: "), last
    assert base in last, last
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


def test_refused_connection(vllm_server: Server, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    done = _exact_run(base, vllm_server, tmp_path / "out")
    _assert_failed_cleanly(done, base, tmp_path / "out")


def test_answers_that_are_not_json(vllm_server: Server, tmp_path: Path) -> None:
    with fault_proxy(vllm_server.base, "garbage") as proxy:
        done = _exact_run(proxy.base, vllm_server, tmp_path / "out")
    _assert_failed_cleanly(done, proxy.base, tmp_path / "out")


def test_server_dying_mid_run(vllm_server: Server, tmp_path: Path) -> None:
    with fault_proxy(vllm_server.base, "die", after=3) as proxy:
        done = _exact_run(proxy.base, vllm_server, tmp_path / "out")
        assert proxy.forwarded == 3  # it did get going before the server went away
    _assert_failed_cleanly(done, proxy.base, tmp_path / "out")


def test_the_same_run_through_a_healthy_proxy_succeeds(vllm_server: Server, tmp_path: Path) -> None:
    with fault_proxy(vllm_server.base, "pass") as proxy:
        done = _exact_run(proxy.base, vllm_server, tmp_path / "out")
        assert proxy.forwarded > 3
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "out").rglob("samples_phylolm_genes_exact_math_*.jsonl"))
