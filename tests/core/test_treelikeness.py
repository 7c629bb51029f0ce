import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phylolm_harness.core.tree import build_tree, from_newick
from phylolm_harness.core.treelikeness import (
    branch_groups,
    branch_quartets,
    is_weak,
    tree_fit,
    tree_likeness,
)


def concordance(*args, **kwargs):  # type: ignore[no-untyped-def]
    return branch_quartets(*args, **kwargs).concordance


def tree_metric(n: int, seed: int) -> tuple[np.ndarray, list[str], str]:
    """Path lengths on a random binary tree with positive branch lengths, and its Newick."""
    rng = np.random.default_rng(seed)
    labels = [f"t{i}" for i in range(n)]
    distances = np.zeros((n, n))
    # each cluster: its Newick and the depth of each of its tips below its root
    clusters: list[tuple[str, dict[int, float]]] = [
        (name, {i: 0.0}) for i, name in enumerate(labels)
    ]
    while len(clusters) > 1:
        i, j = sorted(int(k) for k in rng.choice(len(clusters), 2, replace=False))
        (a, below_a), (b, below_b) = clusters[i], clusters[j]
        la, lb = (float(v) for v in rng.uniform(0.05, 1.0, size=2))
        for x, dx in below_a.items():
            for y, dy in below_b.items():
                distances[x, y] = distances[y, x] = dx + la + dy + lb
        merged = {k: v + la for k, v in below_a.items()} | {k: v + lb for k, v in below_b.items()}
        del clusters[j], clusters[i]
        clusters.append((f"({a}:{la},{b}:{lb})", merged))
    return distances, labels, clusters[0][0] + ";"


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 12), st.integers(0, 2**16))
def test_a_tree_metric_has_delta_zero_and_full_concordance(n: int, seed: int) -> None:
    distances, labels, newick = tree_metric(n, seed)
    likeness = tree_likeness(distances)
    assert likeness.delta == pytest.approx(0.0, abs=1e-9)
    assert likeness.quartets == len(list(itertools.combinations(range(n), 4)))
    assert np.allclose(likeness.per_model, 0.0, atol=1e-9)
    splits, groups = branch_groups(from_newick(newick), labels)
    assert len(splits) == len(groups) == n - 3
    assert np.all(concordance(distances, groups) == 1.0)
    for split, (a1, a2, b1, b2) in zip(splits, groups, strict=True):
        side = np.zeros(n, dtype=bool)
        side[np.concatenate([a1, a2])] = True
        assert np.array_equal(side, split) or np.array_equal(~side, split)
        assert len(np.concatenate([a1, a2, b1, b2])) == n
    # the tree built from a tree metric is that tree, and every split is fully concordant
    fit = tree_fit(distances, build_tree(distances, labels, "nj"), labels)
    assert fit.likeness.delta == pytest.approx(0.0, abs=1e-9)
    assert len(fit.splits) == n - 3 and np.all(fit.concordance == 1.0)
    assert np.allclose(fit.branch_delta, 0.0, atol=1e-9)


def test_points_in_many_dimensions_are_far_from_a_tree() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 50))
    distances = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    likeness = tree_likeness(distances)
    assert likeness.delta > 0.3
    # a branch between arbitrary quarters of a cloud of points: about a third agree
    quarters = tuple(np.arange(k, 30, 4) for k in range(4))
    assert 0.2 < concordance(distances, [quarters])[0] < 0.5
    assert branch_quartets(distances, [quarters]).delta[0] > 0.3


def test_quartets_are_drawn_past_the_limit_reproducibly() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5))
    distances = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    drawn = tree_likeness(distances, seed=3, max_quartets=5000)
    assert drawn.quartets == 5000
    assert drawn.delta == tree_likeness(distances, seed=3, max_quartets=5000).delta
    full = tree_likeness(distances)
    assert abs(drawn.delta - full.delta) < 0.02
    assert not np.isnan(drawn.per_model).any()


def test_fewer_than_four_models_and_empty_groups() -> None:
    assert np.isnan(tree_likeness(np.zeros((3, 3))).delta)
    distances = np.ones((5, 5)) - np.eye(5)
    empty = (np.array([0]), np.array([1]), np.array([2]), np.array([], dtype=np.intp))
    assert np.isnan(concordance(distances, [empty])[0])


def test_ties_count_half_and_many_quartets_are_drawn() -> None:
    star = np.ones((4, 4)) - np.eye(4)  # every pairing's sum is 2
    one = tuple(np.array([i]) for i in range(4))
    assert concordance(star, [one])[0] == 0.5
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 3))
    distances = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    quarters = tuple(np.arange(k, 80, 4) for k in range(4))  # 20**4 quartets: drawn
    drawn = concordance(distances, [quarters], seed=1, max_quartets=3000)
    assert drawn == concordance(distances, [quarters], seed=1, max_quartets=3000)
    assert 0 < drawn[0] < 1


def test_branch_groups_of_a_rooted_binary_tree() -> None:
    splits, groups = branch_groups(from_newick("(((a,b),c),(d,e));"), list("abcde"))
    found = {
        tuple(sorted(np.flatnonzero(s).tolist())): g for s, g in zip(splits, groups, strict=True)
    }
    # the root's two branches are one branch of the unrooted tree: {d, e} | {a, b, c}
    assert set(found) == {(2, 3, 4), (3, 4)}
    a1, a2, b1, b2 = (tuple(g.tolist()) for g in found[(3, 4)])
    assert {frozenset([a1, a2]), frozenset([b1, b2])} == {
        frozenset([(3,), (4,)]),
        frozenset([(0, 1), (2,)]),
    }


def test_weak_splits() -> None:
    assert not is_weak(0.9, 0.9)
    assert is_weak(0.6, 0.99) and is_weak(0.99, 0.4) and is_weak(float("nan"), 0.5)
    assert not is_weak(float("nan"), 0.95)
