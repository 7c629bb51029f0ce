"""The commands start without loading array libraries they never use."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from phylolm_harness.cli import main
from phylolm_harness.core.tree import from_newick
tree = from_newick("((a:1,b:1):1,c:2);")
assert sorted(tip.name for tip in tree.tips()) == ["a", "b", "c"]
print(sorted(name for name in ("torch", "jax", "cupy") if name in sys.modules))
import torch
print(torch.tensor([1.0, 2.0]).sum().item())
"""


def test_scikit_bio_is_imported_without_torch_which_still_imports_later():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "3.0"]
