import numpy as np
import pytest

from phylolm_harness.core.tree import build_tree, from_newick, robinson_foulds, to_newick
from phylolm_harness.errors import InputError

# Additive distances of the tree ((a,b),(c,d),e) with unit-ish branches.
LABELS = ["a", "b", "c", "d", "e"]
D = np.array(
    [
        [0, 2, 6, 6, 5],
        [2, 0, 6, 6, 5],
        [6, 6, 0, 2, 5],
        [6, 6, 2, 0, 5],
        [5, 5, 5, 5, 0],
    ],
    dtype=float,
)


@pytest.mark.parametrize("method", ["nj", "upgma"])
def test_recovers_known_topology(method):
    truth = from_newick("((a,b),(c,d),e);")
    assert robinson_foulds(build_tree(D, LABELS, method), truth) == 0.0


def test_odd_names_survive_newick_round_trip():
    labels = ["model a", "it's", "under_score", "x:y(1)", "ünï"]
    tree = build_tree(D, labels)
    back = from_newick(to_newick(tree))
    assert sorted(t.name for t in back.tips()) == sorted(labels)
    assert robinson_foulds(tree, back) == 0.0


def test_needs_three_models():
    with pytest.raises(InputError, match="at least 3 models"):
        build_tree(D[:2, :2], LABELS[:2])


def test_rejects_bad_matrices():
    bad = D.copy()
    bad[0, 1] = bad[1, 0] = np.inf
    with pytest.raises(InputError, match="finite"):
        build_tree(bad, LABELS)
    with pytest.raises(InputError, match="unique"):
        build_tree(D, ["a", "a", "c", "d", "e"])
