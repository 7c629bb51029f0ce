"""A tree grown from an earlier one (its pairs reused) equals the tree computed from scratch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.synthetic_populations import rows

from phylolm_harness.cli import main
from phylolm_harness.core.pairs import model_fingerprints
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.tree import from_newick, robinson_foulds
from phylolm_harness.io.populations_file import parse_observation


def write_rows(path, lines) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def read_matrix(path) -> np.ndarray:
    text = path.read_text(encoding="utf-8").splitlines()[1:]
    return np.array([[float(x or "nan") for x in line.split(",")[1:]] for line in text])


@pytest.fixture
def grown_and_scratch(tmp_path):
    lines = list(rows(40, 24))
    models = sorted({line["model"] for line in lines})
    first = [line for line in lines if line["model"] in models[:30]]
    later = [line for line in lines if line["model"] not in models[:30]]
    write_rows(tmp_path / "first.jsonl", first)
    write_rows(tmp_path / "later.jsonl", later)
    grown, scratch = tmp_path / "grown", tmp_path / "scratch"
    assert main(["tree", "--populations", str(tmp_path / "first.jsonl"), "-o", str(grown)]) == 0
    both = ["--populations", str(tmp_path / "first.jsonl"), "--populations"]
    later = [str(tmp_path / "later.jsonl"), "-o", str(grown), "--reuse", str(grown)]
    assert main(["tree", *both, *later]) == 0
    assert main(["tree", *both, str(tmp_path / "later.jsonl"), "-o", str(scratch)]) == 0
    return tmp_path, grown, scratch


def assert_same_result(a, b) -> None:
    for name in ("similarity.csv", "distances.csv", "distance_errors.csv", "shared_genes.csv"):
        np.testing.assert_allclose(read_matrix(a / name), read_matrix(b / name), rtol=1e-7)
    trees = [from_newick((folder / "tree.nwk").read_text()) for folder in (a, b)]
    assert robinson_foulds(*trees) == 0.0
    np.testing.assert_allclose(np.load(a / "pairs.npy"), np.load(b / "pairs.npy"), rtol=1e-12)
    prints = [json.loads((folder / "pairs.json").read_text())["fingerprints"] for folder in (a, b)]
    assert prints[0] == prints[1]


def test_a_grown_tree_reuses_the_old_pairs_and_equals_a_tree_from_scratch(grown_and_scratch):
    """Equal numbers and topology: copied sums were added in another order (last bits differ)."""
    _, grown, scratch = grown_and_scratch
    report = (grown / "report.md").read_text()
    assert "the cross products of 30 of 40 models were reused" in report
    assert "were reused" not in (scratch / "report.md").read_text()
    assert_same_result(grown, scratch)


def test_a_changed_model_is_computed_again(grown_and_scratch):
    tmp_path, grown, scratch = grown_and_scratch
    lines = [json.loads(line) for line in (tmp_path / "first.jsonl").read_text().splitlines()]
    line = next(line for line in lines if line["mode"] == "sampled")
    allele = next(iter(line["alleles"]))
    line["alleles"][allele] += 1  # one more probe on one gene of one model
    line["probes"] += 1
    write_rows(tmp_path / "first.jsonl", lines)
    both = ["--populations", str(tmp_path / "first.jsonl"), "--populations"]
    later = [str(tmp_path / "later.jsonl"), "-o", str(grown), "--reuse", str(grown)]
    assert main(["tree", *both, *later]) == 0
    assert main(["tree", *both, str(tmp_path / "later.jsonl"), "-o", str(scratch)]) == 0
    assert "the cross products of 39 of 40 models were reused" in (grown / "report.md").read_text()
    assert_same_result(grown, scratch)


@pytest.mark.parametrize("damage", ["truncate", "garble", "shape", "edit", "nest", "huge-header"])
def test_damaged_pairs_are_set_aside_with_a_note(grown_and_scratch, damage):
    _, grown, scratch = grown_and_scratch
    matrix, index = grown / "pairs.npy", grown / "pairs.json"
    if damage == "truncate":
        matrix.write_bytes(matrix.read_bytes()[:200])
    elif damage == "garble":
        index.write_text("{not json", encoding="utf-8")
    elif damage == "shape":
        np.save(matrix, np.zeros((3, 3)))
    elif damage == "huge-header":  # a header claiming 1e11 x 1e11 floats, and 1 kB of data
        header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2)))
        header["shape"] = (10**11, 10**11)
        with open(matrix, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            handle.write(bytes(1024))
    elif damage == "edit":  # one pair changed, the file still well formed
        cross = np.load(matrix)
        cross[0, 1] = cross[1, 0] = 1.5 * cross[0, 1]
        np.save(matrix, cross)
    else:
        index.write_text("[" * 100_000, encoding="utf-8")
    args = [
        "--populations",
        str(grown / "populations.parquet"),
        "-o",
        str(grown),
        "--reuse",
        str(grown),
    ]
    assert main(["tree", *args]) == 0
    report = (grown / "report.md").read_text()
    assert "pairs an earlier tree kept there are unreadable" in report
    assert "were reused" not in report
    assert_same_result(grown, scratch)


def test_fingerprints_read_the_populations_without_changing_them():
    lines = list(rows(12, 8))
    observations = [parse_observation(line, "row") for line in lines]
    pops = Populations.from_observations(observations)
    before = pops.frequencies.copy()
    prints = model_fingerprints(pops)
    assert np.array_equal(pops.frequencies.data, before.data)
    assert np.array_equal(pops.frequencies.indices, before.indices)
    # a model's fingerprint is its own: the same among fewer models (other columns, other order)
    few = sorted(pops.models)[:5]
    subset = Populations.from_observations([o for o in observations if o.model in few])
    assert dict(zip(subset.models, model_fingerprints(subset), strict=True)) == {
        model: fingerprint for model, fingerprint in zip(pops.models, prints, strict=True)
        if model in few
    }  # fmt: skip
    assert len(set(prints)) == len(prints)


def _forge(folder, change):
    """Edit pairs.npy / pairs.json and recompute the checksum, as a hand or a script could."""
    from phylolm_harness.core.pairs import KnownPairs
    from phylolm_harness.io.pairs_file import pairs_index

    matrix, index = folder / "pairs.npy", folder / "pairs.json"
    prints = json.loads(index.read_text())["fingerprints"]
    cross = np.load(matrix)
    prints, cross = change(prints, cross)
    np.save(matrix, cross)
    index.write_bytes(pairs_index(KnownPairs(tuple(prints), cross)))


def _edit_one_pair(prints, cross):
    cross = cross.copy()
    i, j = np.unravel_index(np.argmax(cross - np.diag(np.diag(cross))), cross.shape)
    cross[i, j] = cross[j, i] = 0.5 * cross[i, j]
    return prints, cross


@pytest.mark.parametrize(
    "change",
    [
        lambda prints, cross: (prints[::-1], cross),  # rows attached to other models
        lambda prints, cross: (prints, cross * 1.01),  # every value scaled
        _edit_one_pair,  # the largest pair between two models
        lambda prints, cross: (prints, np.where(np.eye(len(cross)) == 1, cross, np.nan)),
        lambda prints, cross: (prints, np.where(np.eye(len(cross)) == 1, np.inf, cross)),
    ],
    ids=["reversed-fingerprints", "scaled", "one-pair", "nan", "infinity"],
)
def test_forged_pairs_with_a_recomputed_checksum_are_not_believed(grown_and_scratch, change):
    _, grown, scratch = grown_and_scratch
    _forge(grown, change)
    args = ["--populations", str(grown / "populations.parquet"), "-o", str(grown)]
    assert main(["tree", *args, "--reuse", str(grown)]) == 0
    report = (grown / "report.md").read_text()
    assert "the pairs kept there do not belong to these models" in report
    assert "were reused" not in report
    assert_same_result(grown, scratch)


def test_a_fifo_among_the_kept_pairs_is_set_aside_without_waiting(grown_and_scratch):
    import os

    _, grown, scratch = grown_and_scratch
    (grown / "pairs.json").unlink()
    os.mkfifo(grown / "pairs.json")
    elsewhere = grown.parent / "elsewhere"  # a FIFO in the output folder is never replaced
    args = ["--populations", str(grown / "populations.parquet"), "-o", str(elsewhere)]
    assert main(["tree", *args, "--reuse", str(grown)]) == 0
    report = (elsewhere / "report.md").read_text()
    assert "pairs.json is not a regular file" in report
    assert_same_result(elsewhere, scratch)
    assert main(["tree", *args[:2], "-o", str(grown)]) == 2
