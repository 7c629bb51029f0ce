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
