"""The package's shape: stages import only the stages below them, no cycles, small modules."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import grimp
import pytest
from support.paths import REPO


def test_import_contracts_hold():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports())"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.count("KEPT") == 4


def test_no_import_cycles():
    graph = grimp.build_graph("phylolm_harness")
    cycles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    )
    assert cycles == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = out.glob("phylolm_harness-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_ships_the_tasks_genomes_and_hook(wheel: zipfile.ZipFile):
    names = set(wheel.namelist())
    for shipped in (
        "phylolm_harness/tasks/phylolm/phylolm_genes.yaml",
        "phylolm_harness/tasks/phylolm/_exact_template_yaml",
        "phylolm_harness/genomes/math.json",
        "phylolm_harness/genomes/PROVENANCE.md",
        "phylolm_harness/report/tree_page.html",
        "phylolm_harness/report/tree_page.js",
        "phylolm_harness_lm_eval.pth",
        "_phylolm_harness_hook.py",
    ):
        assert shipped in names


def test_wheel_ships_no_test_fixture_or_maintainer_script(wheel: zipfile.ZipFile):
    names = wheel.namelist()
    leaked = [
        n
        for n in names
        if any(part in n for part in ("phylolm_bench", "arith", "tiny_models", "recipe", "tests/"))
        or n.startswith("tools/")
    ]
    assert leaked == []
