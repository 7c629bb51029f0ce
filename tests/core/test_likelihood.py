"""Likelihood-profile distances and their tree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from phylolm_harness.core.likelihood import (
    MIN_PASSAGES,
    Profiles,
    infer_likelihood_tree,
    profile_distances,
)
from phylolm_harness.core.tree import from_newick, splits
from phylolm_harness.errors import InputError


@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 30)),
        elements=st.floats(-20, 0, allow_nan=False),
    )
)
@settings(max_examples=60, deadline=None)
def test_distances_are_root_mean_square_differences(per_byte: np.ndarray) -> None:
    found = profile_distances(per_byte)
    direct = np.sqrt(((per_byte[:, None, :] - per_byte[None, :, :]) ** 2).mean(axis=2))
    np.testing.assert_allclose(found, direct, atol=1e-6)
    assert np.array_equal(found, found.T) and not np.diagonal(found).any()


def tree_profiles(rng: np.random.Generator, passages: int = 64) -> Profiles:
    """Profiles that drift along ((a1,a2),(b1,b2),(c1,c2)): each edge adds its own change."""
    base = rng.normal(-1.5, 0.3, passages)
    models, rows = [], []
    for clade in "abc":
        ancestor = base + rng.normal(0, 0.2, passages)
        for leaf in "12":
            models.append(clade + leaf)
            rows.append(ancestor + rng.normal(0, 0.05, passages))
    per_byte = np.minimum(np.array(rows), -0.01)
    nbytes = rng.integers(20, 200, passages)
    return Profiles(
        tuple(models), tuple(f"p{i}" for i in range(passages)), per_byte * nbytes, nbytes
    )


def test_tree_of_drifting_profiles_has_the_true_clades_well_supported() -> None:
    found = infer_likelihood_tree(tree_profiles(np.random.default_rng(0)), resamples=50)
    assert found.tree is not None and found.supports is not None and found.fit is not None
    truth = splits(from_newick("((a1,a2),(b1,b2),(c1,c2));"))
    assert truth <= splits(found.tree)
    supported = {side for side, (boot, _) in found.supports.lookup().items() if boot >= 0.95}
    assert supported  # the true clades hold on resampled passages
    assert found.fit.likeness.delta < 0.2
    assert np.isfinite(found.standard_errors[0, 1]) and found.standard_errors[0, 1] > 0


def test_per_byte_makes_tokenizers_and_lengths_comparable() -> None:
    profiles = tree_profiles(np.random.default_rng(1))
    doubled = Profiles(profiles.models, profiles.passages, profiles.loglik * 2, profiles.nbytes * 2)
    np.testing.assert_allclose(
        infer_likelihood_tree(doubled, resamples=0).distances,
        infer_likelihood_tree(profiles, resamples=0).distances,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ll: np.where(np.arange(ll.size).reshape(ll.shape) == 3, np.nan, ll), "finite"),
        (lambda ll: np.where(np.arange(ll.size).reshape(ll.shape) == 3, 2.0, ll), "<= 0"),
    ],
)
def test_values_that_are_no_log_likelihood_are_refused(change, message) -> None:  # type: ignore[no-untyped-def]
    profiles = tree_profiles(np.random.default_rng(2))
    with pytest.raises(InputError, match=message) as error:
        Profiles(profiles.models, profiles.passages, change(profiles.loglik), profiles.nbytes)
    assert "'a1'" in str(error.value) and "'p3'" in str(error.value)


def test_too_few_passages_and_repeated_models_are_refused() -> None:
    profiles = tree_profiles(np.random.default_rng(3), passages=MIN_PASSAGES - 1)
    with pytest.raises(InputError, match="at least 16"):
        infer_likelihood_tree(profiles)
    with pytest.raises(InputError, match="repeat"):
        Profiles(("a", "a"), ("p",), np.full((2, 1), -1.0), np.ones(1, dtype=np.int64))


def test_two_models_give_distances_and_no_tree() -> None:
    profiles = tree_profiles(np.random.default_rng(4))
    two = Profiles(profiles.models[:2], profiles.passages, profiles.loglik[:2], profiles.nbytes)
    found = infer_likelihood_tree(two, resamples=10)
    assert found.tree is None and "at least 3" in found.why_no_tree
    assert found.distances[0, 1] > 0
