import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.fuzzing import fuzz

from phylolm_harness.core.nj import nj_linkage
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.core.phylogeny import infer_phylogeny
from phylolm_harness.core.populations import Populations
from phylolm_harness.core.support import SupportCounter, count_supports, split_matrix
from phylolm_harness.core.tree import build_tree, from_newick, splits, to_newick

LABELS = ["a", "b", "c", "d", "e", "f"]


def _sides(matrix, labels):
    return {frozenset(np.asarray(labels)[row].tolist()) for row in matrix}


@fuzz(60)
@given(st.integers(0, 10**6), st.sampled_from(["nj", "upgma"]), st.integers(4, 12))
def test_split_matrix_agrees_with_splits(seed, method, n):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 3))
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    labels = [f"m{i:02d}" for i in range(n)]
    tree = build_tree(d, labels, method)
    assert _sides(split_matrix(tree, labels), labels) == set(splits(tree))


def test_identical_resamples_give_full_support_and_a_moved_tip_keeps_transfer_support():
    reference = from_newick("(((a,b),c),(d,(e,f)));")
    same = count_supports(reference, [from_newick("(((a,b),c),(d,(e,f)));")] * 3, LABELS)
    assert same.resamples == 3
    assert np.all(same.bootstrap == 1.0) and np.all(same.transfer == 1.0)
    # Moving tip c across the root breaks the splits {a,b,c} and {d,e,f}: their classic
    # support falls to 0, their transfer support stays high (one tip of three moved).
    moved = count_supports(reference, [from_newick("((a,b),((c,d),(e,f)));")], LABELS)
    support = {side: b for side, (b, _) in moved.lookup().items()}
    transfer = {side: t for side, (_, t) in moved.lookup().items()}
    abc = frozenset("def")  # the side without "a" names the split {a,b,c} | {d,e,f}
    assert support[abc] == 0.0
    # {d,e,f} vs the closest split of the moved tree, {c,d,e,f}: one tip; p - 1 = 2.
    assert transfer[abc] == pytest.approx(1 - 1 / 2)
    assert support[frozenset("ef")] == 1.0


def test_transfer_support_matches_its_definition_on_random_trees():
    rng = np.random.default_rng(3)
    n = 9
    labels = [f"t{i}" for i in range(n)]

    def random_tree():
        points = rng.normal(size=(n, 2))
        return build_tree(np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)), labels)

    reference, others = random_tree(), [random_tree() for _ in range(7)]
    found = count_supports(reference, others, labels)
    for row, value in zip(found.splits, found.transfer, strict=True):
        side = set(np.asarray(labels)[row])
        p = min(len(side), n - len(side))
        distances = []
        for other in others:
            branches = [set(s) for s in splits(other)] + [{t} for t in labels]
            distances.append(min(min(len(side ^ b), n - len(side ^ b)) for b in branches))
        assert value == pytest.approx(max(0.0, 1 - np.mean(distances) / (p - 1)))


def test_tree_supports_are_written_to_newick_and_clear_clades_are_supported():
    rng = np.random.default_rng(0)
    observations = []
    centres = {c: rng.dirichlet(np.full(6, 0.5), size=40) for c in "xyz"}
    for clade, centre in centres.items():
        for k in range(2):
            model = f"{clade}{k}"
            for g in range(40):
                p = 0.9 * centre[g] + 0.1 * rng.dirichlet(np.full(6, 0.5))
                counts = rng.multinomial(64, p)
                alleles = {f"a{i}": int(c) for i, c in enumerate(counts) if c}
                observations.append(GeneObservation(model, "g", "sha256:0", f"{g}", alleles, 64))
    phylogeny = infer_phylogeny(Populations.from_observations(observations), resamples=50)
    assert phylogeny.supports is not None and phylogeny.supports.resamples == 50
    lookup = phylogeny.supports.lookup()
    for clade in "yz":  # the sides without "x0"
        assert lookup[frozenset({f"{clade}0", f"{clade}1"})][0] >= 0.9
    newick = to_newick(phylogeny.tree, phylogeny.supports)
    back = from_newick(newick)
    labels = sorted(node.name for node in back.non_tips() if node.name)
    assert labels and all(label.isdigit() and 0 <= int(label) <= 100 for label in labels)
    assert splits(back) == splits(phylogeny.tree)


@fuzz(30)
@given(st.integers(0, 10**6), st.integers(4, 30))
def test_counts_from_the_joins_equal_counts_from_the_tree(seed, n):
    rng = np.random.default_rng(seed)
    labels = [f"m{i:02d}" for i in range(n)]

    def distances():
        points = rng.normal(size=(n, 2))
        return np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))

    reference = build_tree(distances(), labels)
    joined, built = SupportCounter(reference, labels), SupportCounter(reference, labels)
    for _ in range(5):
        d = distances()
        joined.add_counts(*joined.linkage_counts(nj_linkage(d)))
        built.add_tree(build_tree(d, labels, ladderized=False))
    a, b = joined.supports(), built.supports()
    np.testing.assert_array_equal(a.bootstrap, b.bootstrap)
    np.testing.assert_array_equal(a.transfer, b.transfer)


def test_threaded_resamples_equal_one_after_another():
    from support.synthetic_populations import rows

    from phylolm_harness.core.resample import bootstrap_distances, distance_standard_errors
    from phylolm_harness.io.populations_file import parse_observation

    observations = [parse_observation(r, "synthetic") for r in rows(40, 64, seed=2)]
    pops = Populations.from_observations(observations)
    phylogeny = infer_phylogeny(pops, "nj", resamples=30, seed=5)
    assert phylogeny.tree is not None and phylogeny.supports is not None
    trees = (
        build_tree(d, pops.models, ladderized=False) for d in bootstrap_distances(pops, 30, seed=5)
    )
    one_by_one = count_supports(phylogeny.tree, trees, pops.models)
    np.testing.assert_array_equal(phylogeny.supports.bootstrap, one_by_one.bootstrap)
    np.testing.assert_array_equal(phylogeny.supports.transfer, one_by_one.transfer)
    assert phylogeny.supports.resamples == one_by_one.resamples == 30
    np.testing.assert_array_equal(
        phylogeny.standard_errors, distance_standard_errors(pops, 30, seed=5)
    )
