"""Genes per second of each backend, sampled and exact, through the real ``lm_eval`` command.

Runs ``lm_eval`` on one model folder with ``--limit SMALL`` and ``--limit LARGE`` genes of the math
genome for each backend: ``hf`` / ``phylolm-hf`` in this environment, ``vllm`` / ``phylolm-vllm``
in vLLM's environment (``--vllm-python``), and ``local-completions`` /
``phylolm-local-completions`` against ``vllm serve`` started here on loopback. The marginal rate
``(LARGE - SMALL) / (t_LARGE - t_SMALL)`` leaves out each run's start-up (Python, lm-eval's task
index, loading the model or the engine), which the whole-run times include.

    python benchmarks/bench_backends.py --model-dir DIR --vllm-python .venv-vllm/bin/python
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ENV = dict(
    os.environ,
    HF_HUB_OFFLINE="1",
    HF_DATASETS_OFFLINE="1",
    TOKENIZERS_PARALLELISM="false",
    VLLM_CPU_KVCACHE_SPACE="1",
)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(python: str, model: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        python, "-m", "vllm.entrypoints.cli.main", "serve", str(model), "--served-model-name",
        "bench", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
        "--max-model-len", "1024", "--seed", "0",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=ENV)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"vllm serve exited; see {log}") from None
            time.sleep(3)
    raise SystemExit(f"vllm serve did not start; see {log}")


def _run(python: str, args: list[str], limit: int, out: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [python, "-m", "lm_eval", *args, "--limit", str(limit), "--output_path", str(out)],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--vllm-python", default=".venv-vllm/bin/python")
    parser.add_argument("--small", type=int, default=4)
    parser.add_argument("--large", type=int, default=20)
    opts = parser.parse_args()
    model, vllm = str(opts.model_dir), opts.vllm_python
    port = _port()
    url = f"http://127.0.0.1:{port}/v1/completions"
    served = f"model=bench,base_url={url},num_concurrent=4,tokenizer={model}"
    vllm_args = f"pretrained={model},dtype=float32,max_model_len=1024"
    cases = [
        ("hf", "sampled", sys.executable, ["--model", "hf", "--model_args",
         f"pretrained={model}", "--batch_size", "64", "--tasks", "phylolm_genes_math"]),
        ("hf", "exact", sys.executable, ["--model", "phylolm-hf", "--model_args",
         f"pretrained={model}", "--tasks", "phylolm_genes_exact_math"]),
        ("vllm", "sampled", vllm, ["--model", "vllm", "--model_args", vllm_args,
         "--tasks", "phylolm_genes_math"]),
        ("vllm", "exact", vllm, ["--model", "phylolm-vllm", "--model_args", vllm_args,
         "--tasks", "phylolm_genes_exact_math"]),
        ("server", "sampled", sys.executable, ["--model", "local-completions", "--model_args",
         f"{served},tokenized_requests=False", "--batch_size", "32",
         "--tasks", "phylolm_genes_math"]),
        ("server", "exact", sys.executable, ["--model", "phylolm-local-completions",
         "--model_args", served, "--batch_size", "32", "--tasks", "phylolm_genes_exact_math"]),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        server = _serve(vllm, opts.model_dir, port, Path(tmp) / "server.log")
        try:
            print("| backend | mode | whole run, small | whole run, large | genes/s (marginal) |")
            print("|---|---|---:|---:|---:|")
            for backend, mode, python, args in cases:
                small = _run(python, args, opts.small, Path(tmp) / f"{backend}-{mode}-s")
                large = _run(python, args, opts.large, Path(tmp) / f"{backend}-{mode}-l")
                rate = (opts.large - opts.small) / max(large - small, 1e-9)
                print(f"| {backend} | {mode} | {small:.0f} s | {large:.0f} s | {rate:.2f} |")
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
