"""Real ``lm_eval`` on a family of locally built models, then ``phylolm-harness tree``."""

import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz, mutate_json_line, tree_or_input_error
from support.lm_eval_runner import FAMILY_GENES as GENES_PER_GENOME
from support.lm_eval_runner import FAMILY_PROBES as PROBES

from phylolm_harness.cli import main
from phylolm_harness.core.tree import from_newick, robinson_foulds

pytestmark = pytest.mark.slow


def test_tree_recovers_the_known_family(tiny_family, family_results, tmp_path):
    out = tmp_path / "tree"
    assert main(["tree", str(family_results), "-o", str(out)]) == 0
    recovered = from_newick((out / "tree.nwk").read_text())
    assert {t.name for t in recovered.tips()} == set(tiny_family.models)
    assert robinson_foulds(recovered, from_newick(tiny_family.true_tree)) == 0.0
    report = (out / "report.md").read_text()
    assert f"{PROBES} | {2 * GENES_PER_GENOME}/{2 * GENES_PER_GENOME}" in report


def test_upgma_agrees_and_one_genome_alone_works(tiny_family, family_results, tmp_path):
    out = tmp_path / "upgma"
    assert main(["tree", str(family_results), "-o", str(out), "--method", "upgma"]) == 0
    recovered = from_newick((out / "tree.nwk").read_text())
    assert robinson_foulds(recovered, from_newick(tiny_family.true_tree)) == 0.0
    assert (
        main(["tree", str(family_results), "-o", str(tmp_path / "code"), "--genome", "code"]) == 0
    )
    assert "`code`" in (tmp_path / "code" / "report.md").read_text()


def test_folders_of_separate_machines_merge(family_results, tmp_path):
    """Runs written to separate output folders (one per machine) give the tree of one folder."""
    whole = tmp_path / "whole"
    assert main(["tree", str(family_results), "-o", str(whole), "--resamples", "0"]) == 0
    runs = sorted(p for p in family_results.iterdir() if p.is_dir())
    assert len(runs) == 6
    parent = tmp_path / "machines"
    for i, run in enumerate(runs):
        shutil.copytree(run, parent / f"node-{i % 2}" / run.name)
    merged = tmp_path / "merged"
    assert main(["tree", str(parent), "-o", str(merged), "--resamples", "0"]) == 0
    assert (merged / "distances.csv").read_bytes() == (whole / "distances.csv").read_bytes()
    # one machine's tree, then the other machine's folder with the first one's populations file
    first = tmp_path / "node-0-tree"
    assert main(["tree", str(parent / "node-0"), "-o", str(first), "--resamples", "0"]) == 0
    joined = tmp_path / "joined"
    both = [str(parent / "node-1"), "--populations", str(first / "populations.parquet")]
    assert main(["tree", *both, "-o", str(joined), "--resamples", "0"]) == 0
    assert (joined / "distances.csv").read_bytes() == (whole / "distances.csv").read_bytes()
    # both machines' folders named on the command line, one of them twice (read once)
    named = [str(parent / "node-1"), str(parent / "node-0"), str(parent / "node-0")]
    listed = tmp_path / "listed"
    assert main(["tree", *named, "-o", str(listed), "--resamples", "0"]) == 0
    assert (listed / "distances.csv").read_bytes() == (whole / "distances.csv").read_bytes()


def test_several_folders_need_an_output_and_must_exist(family_results, tmp_path, capsys):
    folders = [str(family_results), str(family_results)]
    assert main(["tree", *folders]) == 2
    assert "with several RESULTS_DIR folders, say where to write with -o" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert main(["tree", str(family_results), str(missing), "-o", str(tmp_path / "o")]) == 2
    assert f"{missing}: results folder not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@fuzz(60)
@given(data=st.data())
def test_fuzz_real_lm_eval_outputs(family_results, tmp_path_factory, data):
    """One value of a real run's results or samples file replaced: a result or one clean line."""
    copy = tmp_path_factory.mktemp("fuzz") / "results"
    shutil.copytree(family_results, copy)
    files = sorted(p for p in copy.rglob("*") if p.suffix in (".json", ".jsonl"))
    mutate_json_line(data.draw(st.sampled_from(files)), data)
    tree_or_input_error(copy)
