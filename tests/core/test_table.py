"""The columnar observation table: same content as the objects, read back the same way."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from support.synthetic_populations import rows

from phylolm_harness.core.alleles import TailDraws
from phylolm_harness.core.collapse import collapsed_probes
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.phylogeny import infer_phylogeny
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.table import ObservationTable, TableBuilder
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_file import (
    format_populations_file,
    parse_observation,
    read_populations_file,
)
from phylolm_harness.report.outputs import render_tree_outputs
from phylolm_harness.report.plots import block_means


def synthetic_observations(n_models: int) -> list[GeneObservation]:
    return [parse_observation(row, f"gen:{i}") for i, row in enumerate(rows(n_models, 24))]


def test_a_file_read_into_a_table_holds_what_each_line_says(tmp_path):
    lines = list(rows(12, 16))
    lines[3] = {**lines[3], "draws": {"mass": 0.01, "count": 2, "weight": 0.005}}
    lines[3]["tail"] = 0.0 if lines[3]["mode"] == "exact" else None
    lines = [{k: v for k, v in line.items() if v is not None} for line in lines]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    table = read_populations_file(path)
    expected = [parse_observation(line, f"{path}:{i}") for i, line in enumerate(lines, start=1)]
    assert len(table) == len(expected)
    for got, want in zip(table, expected, strict=True):
        assert got == want and got.source == want.source


def test_populations_from_a_table_equal_those_from_objects():
    objects = synthetic_observations(30)
    by_objects = Populations.from_observations(objects)
    builder = TableBuilder()
    for i, obs in enumerate(objects):
        builder.add(obs, "gen", i + 1)
    by_table = Populations.from_observations(builder.table())
    assert by_table.models == by_objects.models and by_table.genes == by_objects.genes
    assert by_table.column_allele == by_objects.column_allele
    assert (by_table.frequencies != by_objects.frequencies).nnz == 0
    for name in ("probes", "tail", "self_pairs", "sampled"):
        np.testing.assert_array_equal(getattr(by_table, name), getattr(by_objects, name))


def built(observations: list[GeneObservation]) -> ObservationTable:
    """A table made row by row, as the file readers make it (no objects kept)."""
    builder = TableBuilder()
    for obs in observations:
        builder.add(obs, obs.source)
    return builder.table()


def test_joined_and_selected_tables_give_the_populations_of_their_rows():
    objects = synthetic_observations(20)
    half = len(objects) // 2
    second = built(objects).select(np.arange(len(objects)) >= half)
    joined = ObservationTable.concat([built(objects[:half]), second])
    assert joined.objects is None
    assert list(joined) == objects
    a, b = Populations.from_observations(joined), Populations.from_observations(objects)
    assert a.column_allele == b.column_allele
    np.testing.assert_array_equal(a.frequencies.toarray(), b.frequencies.toarray())


def test_the_written_populations_file_reads_back_to_the_same_observations(tmp_path):
    objects = synthetic_observations(15)
    first = objects[0]
    objects.append(
        GeneObservation(
            "x",
            first.genome,
            first.fingerprint,
            first.gene,
            {"cd": 0.03, "ab": 0.98},
            None,
            0.0,
            draws=TailDraws(0.02, 3, 0.01),
        )
    )
    text = format_populations_file(built(objects))
    assert text == format_populations_file(objects)
    path = tmp_path / "p.jsonl"
    path.write_text(text, encoding="utf-8")
    back = read_populations_file(path)
    key = lambda o: (o.model, o.gene)  # noqa: E731
    assert sorted(back, key=key) == sorted(objects, key=key)
    assert all(type(v) is int for o in back if not o.exact for v in o.alleles.values())
    assert [key(o) for o in back] == sorted(key(o) for o in objects)
    assert all(list(o.alleles) == sorted(o.alleles) for o in back)


def test_a_number_beyond_floats_is_named_by_its_line():
    builder = TableBuilder()
    with pytest.raises(InputError, match="p.jsonl:7: allele values, probes and tail"):
        builder.row("m", ("g", "f", "1"), {"ab": 10**400}, 1, 0.0, None, "p.jsonl", 7)


def test_collapsed_probes_are_found_in_a_table():
    one = [GeneObservation("m", "g", "f", str(i), {"ab": 16}, 16) for i in range(8)]
    many = [GeneObservation("n", "g", "f", str(i), {"ab": 8, "cd": 8}, 16) for i in range(8)]
    notes = collapsed_probes(ObservationTable.of([*one, *many]))
    assert len(notes) == 1 and notes[0].startswith("m: all probes gave one allele on 100% of its 8")
    assert "up to 16 probes" in notes[0]


def test_block_means_in_an_order_equal_block_means_of_the_permuted_matrix():
    rng = np.random.default_rng(0)
    matrix = rng.random((53, 53))
    order = rng.permutation(53)
    np.testing.assert_allclose(
        block_means(matrix, 10, order), block_means(matrix[np.ix_(order, order)], 10)
    )


def test_large_tables_are_written_as_numpy_files(monkeypatch):
    pops = Populations.from_observations(synthetic_observations(12))
    phylogeny = infer_phylogeny(pops, "nj", resamples=0)
    observations = synthetic_observations(12)
    small = render_tree_outputs(phylogeny, observations)
    assert {"similarity.csv", "shared_genes.csv", "distance_errors.csv"} <= set(small)
    monkeypatch.setattr("phylolm_harness.report.outputs.TEXT_TABLES_MAX_MODELS", 10)
    monkeypatch.setattr("phylolm_harness.report.markdown.TEXT_TABLES_MAX_MODELS", 10)
    large = render_tree_outputs(phylogeny, observations)
    assert not {"distances.csv", "similarity.csv", "shared_genes.csv", "distance_errors.csv"} & set(
        large
    )
    assert "distance_errors.npy" not in large  # no resamples: no file of NaN
    resampled = infer_phylogeny(pops, "nj", resamples=30)
    large.update(render_tree_outputs(resampled, observations))
    for name, matrix in [
        ("distances", resampled.distances),
        ("similarity", resampled.similarity),
        ("shared_genes", resampled.shared_genes),
        ("distance_errors", resampled.standard_errors),
    ]:
        loaded = np.load(io.BytesIO(bytes(large[f"{name}.npy"])))
        np.testing.assert_array_equal(loaded, matrix)
        assert loaded.dtype == (np.uint8 if name == "shared_genes" else np.float64)
    assert np.isfinite(resampled.standard_errors).sum() > 100
    with io.StringIO(bytes(large["models.csv"]).decode()) as handle:
        assert [row[0] for row in csv.reader(handle)] == ["model", *pops.models]
    assert "models.csv" not in small
    assert "`.npy`" in bytes(large["report.md"]).decode()


def test_integers_beyond_64_bits_are_read_exactly(tmp_path):
    path = tmp_path / "big.jsonl"
    big = 2**64
    line = {"model": "m", "genome": "g", "fingerprint": "f", "gene": "1", "probes": big}
    path.write_text(json.dumps({**line, "alleles": {"a": big}}) + "\n", encoding="utf-8")
    (obs,) = read_populations_file(path)
    assert obs.probes == big and type(obs.probes) is int
