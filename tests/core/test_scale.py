"""Large populations: the bootstrap by gene blocks, tree building by size, readable pictures."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
from skbio import TreeNode
from support.synthetic_populations import rows

from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.packed import unpack
from phylolm_harness.core.phylogeny import infer_phylogeny
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.resample import (
    GeneBootstrap,
    bootstrap_distances,
    distance_standard_errors,
)
from phylolm_harness.core.similarity import homozygosity, nei_distance
from phylolm_harness.core.tree import build_tree, robinson_foulds, splits, to_newick
from phylolm_harness.errors import InputError
from phylolm_harness.io.populations_file import parse_observation, read_populations_file
from phylolm_harness.report.markdown import render_report
from phylolm_harness.report.plots import draw_heatmap
from phylolm_harness.report.tree_plot import draw_dendrogram, largest_clades


def synthetic(n_models: int, n_genes: int, seed: int = 0) -> Populations:
    observations = [parse_observation(r, "synthetic") for r in rows(n_models, n_genes, seed)]
    return Populations.from_observations(observations)


def straightforward_bootstrap(pops: Populations, n_resamples: int, seed: int):
    """Every resample as one full weighted product over all alleles, with dense arrays."""
    rng = np.random.default_rng(seed)
    j = np.nan_to_num(homozygosity(pops))
    dense = pops.frequencies.toarray()
    observed = pops.observed.astype(float)
    n_genes = len(pops.genes)
    for _ in range(n_resamples):
        w = rng.multinomial(n_genes, np.full(n_genes, 1.0 / n_genes)).astype(float)
        cross = (dense * w[pops.column_gene]) @ dense.T
        within = j @ (observed * w).T
        s = np.minimum(cross / np.sqrt(within * within.T), 1.0)
        np.fill_diagonal(s, 1.0)
        yield nei_distance(s)


def test_bootstrap_by_blocks_is_the_gene_bootstrap_while_blocks_are_genes():
    pops = synthetic(12, 40, seed=3)
    fast = list(bootstrap_distances(pops, 20, seed=7))
    slow = list(straightforward_bootstrap(pops, 20, seed=7))
    assert len(fast) == len(slow) == 20
    np.testing.assert_allclose(np.array(fast), np.array(slow), rtol=0, atol=1e-12)


def test_bootstrap_with_partly_observed_models_is_the_gene_bootstrap():
    kept = [
        r
        for r in rows(16, 48, seed=5)
        if r["model"][-5:] not in ("00001", "00004") or int(str(r["gene"])[-4:]) % 3
    ]
    pops = Populations.from_observations([parse_observation(r, "synthetic") for r in kept])
    assert (~pops.observed.all(axis=1)).sum() >= 2
    fast = list(bootstrap_distances(pops, 20, seed=2))
    slow = list(straightforward_bootstrap(pops, 20, seed=2))
    assert len(fast) == len(slow) == 20
    np.testing.assert_allclose(np.array(fast), np.array(slow), rtol=0, atol=1e-12)


def test_resamples_computed_together_equal_each_alone():
    kept = [
        r
        for r in rows(14, 30, seed=8)
        if not (r["model"][-5:] == "00002" and int(str(r["gene"])[-4:]) >= 3)
        and (r["model"][-5:] != "00005" or int(str(r["gene"])[-4:]) % 2)
    ]  # model 2 is observed on 3 genes only: some resamples draw none of them
    pops = Populations.from_observations([parse_observation(r, "synthetic") for r in kept])
    bootstrap = GeneBootstrap(pops, 40)
    drawn = np.array(list(bootstrap.draws(seed=3)))
    packed, defined = bootstrap.packed_distances(drawn)
    alone = [bootstrap.distances(d) for d in drawn]
    assert 0 < defined.sum() < len(drawn)  # both kinds of resample are in the batch
    for together, ok, one in zip(packed, defined, alone, strict=True):
        assert ok == (one is not None)
        if one is not None:
            assert np.array_equal(unpack(together, len(pops.models)), one)  # bit for bit


def test_resamples_where_a_pair_shares_no_drawn_gene_are_left_out():
    kept = [
        r
        for r in rows(6, 24, seed=1)
        if not (r["model"][-5:] == "00000" and int(str(r["gene"])[-4:]) >= 12)
        and not (r["model"][-5:] == "00001" and int(str(r["gene"])[-4:]) < 12)
    ]  # models 0 and 1 share no gene: every resample is undefined
    pops = Populations.from_observations([parse_observation(r, "synthetic") for r in kept])
    assert list(bootstrap_distances(pops, 5, seed=0)) == []


def test_coarser_gene_blocks_estimate_the_same_errors():
    pops = synthetic(30, 256, seed=4)
    per_gene = distance_standard_errors(pops, 300, seed=1)
    blocks = distance_standard_errors(pops, 300, seed=1, max_bytes=64 * 8 * 30**2)  # 4 genes each
    upper = np.triu_indices(30, k=1)
    ratio = blocks[upper] / per_gene[upper]
    assert not np.array_equal(blocks, per_gene)
    assert 0.85 < np.median(ratio) < 1.15  # same errors up to the bootstrap's own noise


def random_tree(n: int, rng: np.random.Generator) -> TreeNode:
    nodes = [TreeNode(name=f"m{i}", length=rng.uniform(0.01, 1.0)) for i in range(n)]
    while len(nodes) > 1:
        i, j = sorted(rng.choice(len(nodes), 2, replace=False))[::-1]
        a, b = nodes.pop(i), nodes.pop(j)
        nodes.append(TreeNode(children=[a, b], length=rng.uniform(0.01, 1.0)))
    return nodes[0]


@pytest.mark.parametrize("method", ["nj", "bme"])
def test_both_methods_recover_a_tree_from_its_additive_distances(method):
    truth = random_tree(300, np.random.default_rng(5))
    distances = truth.cophenet()
    found = build_tree(distances.data, list(distances.ids), method)
    assert robinson_foulds(found, truth) == 0.0


def clade_splits(labels: tuple[str, ...], depth: int) -> set[frozenset[str]]:
    """Splits of the known clades: families (depth 1) or their branches (depth 2)."""
    groups: dict[str, set[str]] = {}
    for label in labels:
        groups.setdefault("/".join(label.split("/")[:depth]), set()).add(label)
    every, anchor = frozenset(labels), min(labels)
    return {
        every - frozenset(g) if anchor in g else frozenset(g)
        for g in groups.values()
        if 1 < len(g) < len(labels) - 1
    }


def test_fast_method_finds_the_clades_neighbour_joining_finds():
    pops = synthetic(300, 128, seed=6)
    phylogeny = infer_phylogeny(pops, "nj", resamples=0)
    assert phylogeny.tree is not None
    fast = build_tree(phylogeny.distances, pops.models, "bme")
    for depth in (1, 2):
        known = clade_splits(pops.models, depth)
        assert len(known) > 10
        assert known <= splits(phylogeny.tree)
        assert known <= splits(fast)
    # within the branches the models are exchangeable: there the two methods differ by no more
    # than Neighbour-Joining differs from itself on resampled genes
    resampled = build_tree(next(bootstrap_distances(pops, 1, seed=0)), pops.models, "nj")
    assert robinson_foulds(fast, phylogeny.tree) <= robinson_foulds(resampled, phylogeny.tree)


def test_the_report_names_the_method_and_the_skipped_resamples(monkeypatch):
    pops = synthetic(8, 32, seed=8)
    report = render_report(infer_phylogeny(pops, "bme", resamples=0))
    assert "balanced minimum evolution" in report
    assert "Resampling" not in report
    small = infer_phylogeny(pops, "auto", resamples=None)
    assert small.method == "nj" and small.supports is not None
    monkeypatch.setattr("phylolm_harness.core.phylogeny.RESAMPLE_MAX_MODELS", 5)
    skipped = infer_phylogeny(pops, "auto", resamples=None)
    assert skipped.supports is None and np.isnan(skipped.standard_errors).all()
    assert "- Resampling: standard errors and branch supports were not computed: 8 models" in (
        render_report(skipped)
    )
    asked = infer_phylogeny(pops, "auto", resamples=10)
    assert asked.supports is not None and asked.supports.resamples == 10


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_large_trees_are_drawn_circular_at_a_fixed_size():
    truth = random_tree(400, np.random.default_rng(9))
    for node in truth.tips():
        node.name = f"family-{int(node.name[1:]) % 4}/{node.name}"
    small = draw_dendrogram(random_tree(40, np.random.default_rng(1)), "small")
    large = draw_dendrogram(truth, "large")
    assert png_size(small)[1] > 1000  # one row per model
    assert max(png_size(large)) < 2000  # fixed size, whatever the number of models
    clades = largest_clades(truth)
    assert len(clades) == 10
    assert sum(c.count(tips=True) for c in clades) == 400


def test_large_heat_maps_are_drawn_from_block_means():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(2500, 3))
    distances = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    labels = [f"m{i}" for i in range(2500)]
    assert max(png_size(draw_heatmap(distances, labels, "big"))) < 1600
    assert max(png_size(draw_heatmap(distances[:20, :20], labels[:20], "small"))) < 1000


def test_resampling_with_too_few_gene_blocks_is_refused():
    pops = synthetic(30, 64, seed=10)
    with pytest.raises(InputError, match="resampling genes at 30 models needs .* 20 gene blocks"):
        distance_standard_errors(pops, 10, seed=0, max_bytes=19 * 8 * 30**2)
    assert np.isfinite(distance_standard_errors(pops, 10, 0, max_bytes=20 * 8 * 30**2)).all()


def test_a_thousand_identical_models_make_a_deep_tree_that_still_writes():
    labels = [f"m{i}" for i in range(1100)]
    tree = build_tree(np.zeros((1100, 1100)), labels, "nj")
    text = to_newick(tree)
    assert text.count("(") > 1000
    assert {part.split(":")[0] for part in text.strip("();\n").replace("(", "").split(",")} == set(
        labels
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tail", "NaN", "tail must be a finite number"),
        ("tail", "1" + "0" * 400, "tail must be a finite number"),
        ("alleles", '{"x": 1' + "0" * 400 + "}", "allele values, probes and tail must be finite"),
    ],
)
def test_non_finite_numbers_in_a_populations_file_are_named(tmp_path, field, value, message):
    row = {"model": "a", "genome": "g", "fingerprint": "f", "gene": "1", "mode": "exact"}
    row.update(tail=0.0, alleles={"x": 1.0})
    line = json.dumps(row).replace(f'"{field}": ' + json.dumps(row[field]), f'"{field}": {value}')
    path = tmp_path / "pops.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(f"{path}:1: ") + ".*" + message):
        Populations.from_observations(read_populations_file(path))


def test_a_nan_tail_given_in_python_is_refused():
    nan_tail = GeneObservation("a", "g", "f", "1", {"x": 1.0}, None, tail=float("nan"))
    with pytest.raises(InputError, match="exact probabilities sum to 1 with tail nan"):
        Populations.from_observations([nan_tail])
