from phylolm_harness.core.alleles import ALLELE_CHARS, allele_of


def test_strips_spaces_then_newlines_in_that_order():
    assert allele_of("  \nabcdef") == "abcd"
    assert allele_of("\n  abc") == "  ab"  # newline first: the spaces after it stay


def test_short_and_empty_continuations_keep_what_they_have():
    assert allele_of("ab") == "ab"
    assert allele_of("   ") == ""
    assert len(allele_of("x" * 10)) == ALLELE_CHARS


def test_characters_not_bytes():
    assert allele_of(" éèçà€") == "éèçà"


def test_tail_draws_round_trip_and_reject_bad_fields() -> None:
    import pytest

    from phylolm_harness.core.alleles import AlleleDistribution, TailDraws, parse_distribution
    from phylolm_harness.errors import InputError

    draws = TailDraws(mass=0.25, count=3, weight=0.0625)
    dist = AlleleDistribution({"abcd": 0.75 + 2 * 0.0625, "xyz ": 0.0625}, 0.0, 0, draws)
    assert parse_distribution(dist.to_json()) == dist
    assert draws.self_pairs == pytest.approx(3 * 0.0625**2)
    for bad in (
        [1, 2],
        {"mass": 0.2, "count": 2},
        {"mass": 0.2, "count": True, "weight": 0.1},
        {"mass": 0.2, "count": -1, "weight": 0.1},
        {"mass": 0.2, "count": 1.5, "weight": 0.1},
        {"mass": 1.5, "count": 1, "weight": 0.1},
        {"mass": 0.2, "count": 1, "weight": 0},
        {"mass": "x", "count": 1, "weight": 0.1},
    ):
        with pytest.raises(InputError, match="tail draws"):
            TailDraws.from_dict(bad, "answer")
