import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from skbio import DistanceMatrix, TreeNode
from skbio.tree import nj
from support.fuzzing import fuzz

from phylolm_harness.core.nj import _pairwise_sum, nj_linkage
from phylolm_harness.core.tree import build_tree, ladderize, splits, to_newick


def matrix(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Distance matrices of several shapes, ties included."""
    if kind == "random":
        x = rng.random((n, n))
    elif kind == "ties":  # a few small integers: many pairs tie on Q
        x = rng.integers(1, 4, (n, n)).astype(float)
    elif kind == "equal":  # a star: every pair ties
        x = np.ones((n, n))
    elif kind == "points":
        p = rng.normal(size=(n, 3))
        d = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1))
        return d
    elif kind == "copies":  # a few models, each copied many times: crowds of exact ties
        p = rng.normal(size=(max(2, n // 10), 2))[rng.integers(max(2, n // 10), size=n)]
        return np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1))
    elif kind == "twins":  # models observed twice: identical rows, distance 0
        p = rng.normal(size=(n, 2))
        p[n // 2 :] = p[: n - n // 2]
        return np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1))
    else:  # additive: the distances of a random tree
        nodes = [TreeNode(name=f"m{i}", length=rng.uniform(0.01, 1.0)) for i in range(n)]
        while len(nodes) > 1:
            i, j = sorted(rng.choice(len(nodes), 2, replace=False))[::-1]
            a, b = nodes.pop(i), nodes.pop(j)
            nodes.append(TreeNode(children=[a, b], length=rng.uniform(0.01, 1.0)))
        d = nodes[0].cophenet()
        order = np.argsort([int(name[1:]) for name in d.ids])
        return np.asarray(d.data)[np.ix_(order, order)]
    d = x + x.T
    np.fill_diagonal(d, 0.0)
    return d


KINDS = ["random", "ties", "equal", "points", "twins", "copies", "additive"]


def tree_of(linkage: np.ndarray, labels: list[str]) -> TreeNode:
    """The unrooted tree of a linkage, negative lengths as 0 (as scikit-bio's nj)."""
    n = len(labels)
    nodes = [TreeNode(name=label) for label in labels] + [TreeNode() for _ in range(n - 1)]
    for r, (a, b, la, lb) in enumerate(linkage[:-2]):
        for child, length in ((int(a), la), (int(b), lb)):
            nodes[child].length = max(length, 0.0)
            nodes[n + r].append(nodes[child])
    (c0, _, l0, _), (c1, c2, l1, l2) = linkage[-1], linkage[-2]
    root = TreeNode()
    for child, length in ((int(c0), l0), (int(c1), l1), (int(c2), l2)):
        nodes[child].length = max(length, 0.0)
        root.append(nodes[child])
    return root


def lengths_by_split(tree: TreeNode) -> dict[frozenset[str], float]:
    tips = frozenset(str(t.name) for t in tree.tips())
    anchor = min(tips)
    out = {}
    for node in tree.postorder(include_self=False):
        side = frozenset(str(t.name) for t in node.tips())
        out[tips - side if anchor in side else side] = float(node.length or 0.0)
    return out


@fuzz(40)
@given(st.integers(0, 10**6), st.sampled_from(KINDS), st.integers(3, 40))
def test_same_tree_and_lengths_as_scikit_bio(seed, kind, n):
    d = matrix(kind, n, np.random.default_rng(seed))
    labels = [f"m{i:02d}" for i in range(n)]
    mine = tree_of(nj_linkage(d), labels)
    theirs = nj(DistanceMatrix(d, ids=labels))
    assert splits(mine) == splits(theirs)
    ours, skbio = lengths_by_split(mine), lengths_by_split(theirs)
    assert ours.keys() == skbio.keys()
    assert all(abs(ours[s] - skbio[s]) <= 1e-9 for s in ours)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [3, 4, 5, 17, 150])
def test_joins_are_scikit_bios_bit_for_bit(kind, n):
    private = pytest.importorskip("skbio.tree._nj")  # scikit-bio's own linkage, where it has one
    for seed in range(5):
        d = matrix(kind, n, np.random.default_rng(seed))
        np.testing.assert_array_equal(nj_linkage(d), private._nj(d.copy()))


def test_large_matrices_and_the_input_left_alone():
    private = pytest.importorskip("skbio.tree._nj")
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(12, 5))
    points = centres[rng.integers(12, size=600)] + 0.05 * rng.normal(size=(600, 5))
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    kept = d.copy()
    np.testing.assert_array_equal(nj_linkage(d), private._nj(d.copy()))
    np.testing.assert_array_equal(d, kept)


def test_row_sums_are_numpys():
    rng = np.random.default_rng(0)
    for n in [*range(0, 300), 1000, 1001, 4097]:
        a = rng.standard_normal(n) * 10 ** rng.uniform(-3, 3, n)
        assert _pairwise_sum(a, n) == a.sum()


@fuzz(40)
@given(st.integers(0, 10**6), st.sampled_from(KINDS), st.integers(3, 40))
def test_trees_write_as_scikit_bios(seed, kind, n):
    d = matrix(kind, n, np.random.default_rng(seed))
    labels = [f"m{i:02d}" for i in range(n)]
    theirs = ladderize(nj(DistanceMatrix(d, ids=labels)))
    assert to_newick(build_tree(d, labels, "nj")) == to_newick(theirs)
