"""Every example in the package's docstrings runs and gives what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import phylolm_harness

WITH_EXAMPLES = sorted(
    info.name
    for info in pkgutil.walk_packages(phylolm_harness.__path__, "phylolm_harness.")
    if ">>>" in (importlib.util.find_spec(info.name).loader.get_source(info.name) or "")
)


def test_the_examples_are_found():
    assert {"phylolm_harness.core.alleles", "phylolm_harness.core.tree"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
