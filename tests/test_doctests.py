import doctest

import pytest

import phylolm_harness.alleles
import phylolm_harness.harness_results
import phylolm_harness.similarity


@pytest.mark.parametrize(
    "module",
    [phylolm_harness.alleles, phylolm_harness.harness_results, phylolm_harness.similarity],
)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
