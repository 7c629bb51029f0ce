"""``baseline`` and ``check`` as a CI job runs them: real ``lm_eval`` runs, real exit codes."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.lm_eval_runner import FAMILY_GENES, lm_eval_env, run_lm_eval

from phylolm_harness.core.tree import from_newick, splits
from phylolm_harness.demo.relatives import derive_folder, int8_round_trip

pytestmark = pytest.mark.slow

CLADE = ("code-1", "math-1", "prose-1")


def phylolm(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command line, as a CI job calls it."""
    command = [sys.executable, "-m", "phylolm_harness", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=lm_eval_env(), timeout=600, check=False
    )


def _run_of(results: Path, label: str) -> Path:
    """The folder lm-eval wrote a model's runs to (its sanitised path ends with the label)."""
    (folder,) = [f for f in results.iterdir() if f.name.endswith(f"__{label}")]
    return folder


def _copy_run(results: Path, label: str, dest: Path) -> None:
    source = _run_of(results, label)
    shutil.copytree(source, dest / source.name)


def _sampled(folder: Path, out: Path, *extra: str) -> None:
    run_lm_eval(
        "--model", "hf", "--model_args", f"pretrained={folder}", "--device", "cpu",
        "--tasks", "phylolm_genes", "--limit", str(FAMILY_GENES), "--batch_size", "64",
        "--output_path", str(out), "--log_samples", *extra,
    )  # fmt: skip


def _exact(folder: Path, out: Path, batch_size: int) -> None:
    run_lm_eval(
        "--model", "phylolm-hf", "--model_args", f"pretrained={folder}", "--device", "cpu",
        "--tasks", "phylolm_genes_exact_math", "--limit", "16",
        "--batch_size", str(batch_size), "--output_path", str(out), "--log_samples",
    )  # fmt: skip


@pytest.fixture(scope="module")
def sampled_baseline(tiny_family, family_results, tmp_path_factory) -> Path:
    """A baseline of three models of different clades, from the family's sampled runs."""
    root = tmp_path_factory.mktemp("sampled")
    for label in CLADE:
        _copy_run(family_results, label, root / "before")
    done = phylolm("baseline", str(root / "before"), "-o", str(root / "baseline.json"))
    assert done.returncode == 0, done.stderr
    return root / "baseline.json"


def test_baseline_holds_alleles_settings_and_a_supported_tree(sampled_baseline):
    document = json.loads(sampled_baseline.read_text())
    assert [m["label"] for m in document["models"]] == sorted(CLADE)
    assert {m["settings"]["mode"] for m in document["models"]} == {"sampled"}
    assert {g["name"] for g in document["genomes"]} == {"math", "code"}
    assert len(document["populations"]) == len(CLADE) * 2 * FAMILY_GENES
    assert document["tree"] is not None  # three tips: one unrooted topology, no inner split
    assert splits(from_newick(document["tree"]["newick"])) == frozenset()


def test_fresh_seeds_pass_and_a_swapped_model_fails(
    tiny_family, family_results, sampled_baseline, tmp_path
):
    again = tmp_path / "again"
    for label in CLADE:
        _sampled(tiny_family.models[label], again, "--seed", "7,7,7,7")
    # A fresh run is a random draw: at the default family-wise rate (1%) a false alarm comes about
    # once in a hundred runs, so CI asks for 0.1% here; the swapped model below fails at 1%.
    done = phylolm("check", str(again), "--baseline", str(sampled_baseline), "--level", "0.001")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 3 rules hold" in done.stdout
    junit = ET.parse(again / "phylolm-check" / "junit.xml").getroot()
    assert junit.get("tests") == "3" and junit.get("failures") == "0"
    # The endpoint now serves code-2 under code-1's name: same clade, other weights.
    swapped = tmp_path / "swapped"
    _copy_run(family_results, "code-2", swapped)
    for label in CLADE[1:]:
        _copy_run(again, label, swapped)
    done = phylolm(
        "check", str(swapped), "--baseline", str(sampled_baseline), "--rename", "code-2=code-1"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("FAIL same model: code-1:")
    cases = ET.parse(swapped / "phylolm-check" / "junit.xml").getroot().iter("testcase")
    assert [c.get("name") for c in cases if c.find("failure") is not None] == ["code-1"]
    summary = (swapped / "phylolm-check" / "check.md").read_text()
    assert summary.startswith("## ❌ PhyloLM check failed")


def test_exact_mode_tolerates_other_kernels_and_catches_int8(
    tiny_family, family_results, sampled_baseline, tmp_path
):
    model = tiny_family.models["code-1"]
    _exact(model, tmp_path / "before", batch_size=64)
    baseline = tmp_path / "exact.json"
    assert phylolm("baseline", str(tmp_path / "before"), "-o", str(baseline)).returncode == 0
    # Batch size 1: other padding, other matrix shapes, other float rounding.
    _exact(model, tmp_path / "batch1", batch_size=1)
    done = phylolm("check", str(tmp_path / "batch1"), "--baseline", str(baseline))
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads((tmp_path / "batch1" / "phylolm-check" / "check.json").read_text())
    (same,) = verdict["verdicts"]
    assert same["p_value"] is None and abs(same["value"]) < same["threshold"]
    # An int8 round-trip of the same weights under the same name.
    quantized = derive_folder(model, tmp_path / "int8" / "code-1", lambda m, t: int8_round_trip(m))
    _exact(quantized, tmp_path / "after-int8", batch_size=64)
    done = phylolm("check", str(tmp_path / "after-int8"), "--baseline", str(baseline))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "above the floating-point tolerance" in done.stdout
    # Exact runs are not comparable with a sampled baseline: bad input, not a failed rule.
    for label in CLADE[1:]:
        _copy_run(family_results, label, tmp_path / "batch1")
    done = phylolm(
        "check", str(tmp_path / "batch1"), "--baseline", str(sampled_baseline), "--genome", "math"
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "'code-1' was collected in exact mode here but in sampled mode" in done.stderr
