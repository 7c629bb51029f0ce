"""One real model collected through HF, the real vLLM engine and the real vLLM server.

Every run is the real ``lm_eval`` command: ``phylolm-hf`` in this environment,
``phylolm-vllm`` and ``vllm`` in vLLM's environment, and ``phylolm-local-completions``,
``local-completions`` and ``local-chat-completions`` against ``vllm serve`` on loopback, which
is started with an API key. The populations of one model must come out at distance about 0
whatever the backend, and a fine-tuned relative must not.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.lm_eval_runner import lm_eval_env, run_lm_eval

from phylolm_harness.io.samples import read_observations

from .conftest import Server, engine_env, vllm_python

pytestmark = pytest.mark.slow

GENES = 12
GENOME_TASK = "math"
# Thresholds. Same model through two backends: the expected distance is 0, its noise is what
# the gene bootstrap measures (distance_errors.csv): within 3 standard errors, or 0.03 at most.
# Measured: 0 to 0.005 (standard errors about 0.003). The fine-tuned relative sits at 0.44-0.52
# from SmolLM2 through every backend on these genes.
NOISE_SE = 3.0
SAME_MODEL_MAX = 0.03
RELATIVE_MIN = 0.3


def _tree(results: Path, out: Path) -> tuple[dict[str, dict[str, float]], ...]:
    """Run ``phylolm-harness tree``; return distances and their standard errors."""
    done = subprocess.run(
        [sys.executable, "-m", "phylolm_harness", "tree", str(results), "--out", str(out)],
        capture_output=True,
        text=True,
        env=lm_eval_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return _matrix(out / "distances.csv"), _matrix(out / "distance_errors.csv")


def _matrix(path: Path) -> dict[str, dict[str, float]]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    return {row["model"]: {k: float(v) for k, v in row.items() if k != "model"} for row in rows}


@pytest.fixture(scope="module")
def collection(
    smol_models: dict[str, Path],
    vllm_server: Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """Every run of this module, each in its own results folder (keyed by what it is)."""
    root = tmp_path_factory.mktemp("served")
    smol, relative = smol_models["smollm2"], smol_models["smollm2-relative"]
    exact, sampled = f"phylolm_genes_exact_{GENOME_TASK}", f"phylolm_genes_{GENOME_TASK}"
    common = ("--limit", str(GENES), "--log_samples")
    server_env = {"OPENAI_API_KEY": vllm_server.api_key}
    served = f"model={vllm_server.model},base_url={vllm_server.completions},num_concurrent=4"
    runs: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
        "hf-exact": (("--model", "phylolm-hf", "--model_args", f"pretrained={smol}",
                      "--tasks", exact), {}),
        "relative-exact": (("--model", "phylolm-hf", "--model_args", f"pretrained={relative}",
                            "--tasks", exact), {}),
        # Token ids through the server's own tokenizer endpoints, with the key in model_args.
        "server-exact": (("--model", "phylolm-local-completions", "--model_args",
                          f"{served},tokenizer_backend=remote,auth_token={vllm_server.api_key}",
                          "--batch_size", "32", "--tasks", exact), {"env": server_env}),
        "server-sampled": (("--model", "local-completions", "--model_args",
                            f"{served},tokenizer={smol},tokenized_requests=False",
                            "--batch_size", "32", "--tasks", sampled), {"env": server_env}),
        "server-chat": (("--model", "local-chat-completions", "--model_args",
                         f"model={vllm_server.model},base_url={vllm_server.chat},"
                         "num_concurrent=4", "--apply_chat_template", "--tasks", sampled),
                        {"env": server_env}),
        "server-repeats": (("--model", "local-completions", "--model_args",
                            f"{served},tokenizer={smol},tokenized_requests=False",
                            "--batch_size", "32", "--tasks", "phylolm_genes_repeats_math",
                            "--include_path", str(Path(__file__).parents[1] / "tasks")),
                           {"env": server_env}),
        "vllm-exact": (("--model", "phylolm-vllm", "--model_args",
                        f"pretrained={smol},dtype=float32,max_model_len=1024,enforce_eager=True",
                        "--tasks", exact), {"python": vllm_python(), "env": engine_env()}),
        "vllm-sampled": (("--model", "vllm", "--model_args",
                          f"pretrained={smol},dtype=float32,max_model_len=1024,enforce_eager=True",
                          "--tasks", sampled), {"python": vllm_python(), "env": engine_env()}),
    }  # fmt: skip
    folders = {}
    for name, (args, options) in runs.items():
        folders[name] = root / name
        run_lm_eval(*args, *common, "--output_path", str(folders[name]), **options)  # type: ignore[arg-type]
    return folders


def _merged(collection: dict[str, Path], names: list[str], into: Path) -> Path:
    """One results folder holding copies of the named runs, as a user would gather them."""
    for name in names:
        shutil.copytree(collection[name], into / name)
    return into


def _labels(merged: Path) -> tuple[str, str, str]:
    """Labels ``tree`` gives the HF run, the relative's run and the third run of a folder."""
    identities = read_observations(merged).identities
    (relative,) = [label for label in identities if "relative" in label]
    (hf,) = [
        label
        for label, identity in identities.items()
        if label != relative
        and identity.collection["backend"] == "hf"
        and identity.collection["mode"] == "exact"
    ]
    (other,) = set(identities) - {hf, relative}
    return hf, relative, other


@pytest.mark.parametrize("other", ["server-exact", "vllm-exact", "server-sampled", "vllm-sampled"])
def test_one_model_through_every_backend_is_one_population(
    collection: dict[str, Path], other: str, tmp_path: Path
) -> None:
    names = ["hf-exact", "relative-exact", other]
    merged = _merged(collection, names, tmp_path / "in")
    distances, errors = _tree(merged, tmp_path / "out")
    hf, relative, served = _labels(merged)
    same, se = distances[hf][served], errors[hf][served]
    assert same <= max(NOISE_SE * se, SAME_MODEL_MAX), (same, se)
    assert distances[hf][relative] >= RELATIVE_MIN
    assert distances[served][relative] >= RELATIVE_MIN
    assert same * 10 < distances[hf][relative]


def _probes(folder: Path) -> list[list[str]]:
    (samples,) = folder.rglob("samples_*.jsonl")
    out = []
    for line in samples.read_text().splitlines():
        resps = json.loads(line)["resps"]
        out.append([text for resp in resps for text in resp])
    return out


@pytest.mark.parametrize("run", ["server-sampled", "server-chat", "vllm-sampled"])
def test_sampled_probes_are_independent_draws(collection: dict[str, Path], run: str) -> None:
    probes = _probes(collection[run])
    assert len(probes) == GENES and all(len(p) == 32 for p in probes)
    # At temperature 0.7, SmolLM2 writes several different 5-token continuations on every
    # gene; copies of one sample would give a single one.
    distinct = [len(set(p)) for p in probes]
    assert min(distinct) >= 2 and sum(distinct) / len(distinct) >= 8, distinct


def test_fixed_seed_repeats_collapse_and_tree_says_so(
    collection: dict[str, Path], tmp_path: Path
) -> None:
    probes = _probes(collection["server-repeats"])
    assert all(len(set(p)) == 1 for p in probes)  # the server honours lm-eval's fixed seed
    done = subprocess.run(
        [sys.executable, "-m", "phylolm_harness", "tree", str(collection["server-repeats"]),
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=lm_eval_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "note: smollm2: all probes gave one allele on 100%" in done.stdout
    assert "probes gave one allele on 100%" in (tmp_path / "out" / "report.md").read_text()


def test_chat_and_completion_probing_are_told_apart(collection: dict[str, Path]) -> None:
    chat = read_observations(collection["server-chat"]).identities
    plain = read_observations(collection["server-sampled"]).identities
    (chat_identity,), (plain_identity,) = chat.values(), plain.values()
    assert chat_identity.collection["chat"] == "yes"
    assert plain_identity.collection["chat"] == "no"


def test_no_output_of_the_plugin_holds_the_api_key(
    collection: dict[str, Path], vllm_server: Server, tmp_path: Path
) -> None:
    folder = collection["server-exact"]
    # lm-eval itself writes model_args, key included, into its results file.
    assert any(vllm_server.api_key in p.read_text() for p in folder.rglob("results_*.json"))
    out = tmp_path / "out"
    names = ["hf-exact", "relative-exact", "server-exact"]
    _tree(_merged(collection, names, tmp_path / "in"), out)
    baseline = tmp_path / "baseline.json"
    done = subprocess.run(
        [sys.executable, "-m", "phylolm_harness", "baseline", str(tmp_path / "in"),
         "--out", str(baseline)],
        capture_output=True, text=True, env=lm_eval_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = [p for p in out.rglob("*") if p.is_file()] + [baseline]
    assert len(written) >= 5
    for path in written:
        assert vllm_server.api_key.encode() not in path.read_bytes(), path
