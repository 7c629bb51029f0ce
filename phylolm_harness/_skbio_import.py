"""scikit-bio without the array libraries its own test helpers load.

scikit-bio 0.7 runs its testing helpers on ``import skbio`` (``skbio.util._testing``), and they
import PyTorch, JAX and CuPy when installed, only to list the array backends its own tests could
use: about 1.5 s of every command here with PyTorch installed (more on a GPU machine, where it
also asks CUDA for devices), and JAX's 64-bit mode switched on for the whole process. Nothing in
this package uses those backends. So, while that one module runs, importing the three fails as if
they were not installed; every other import of them, before or after, is untouched.
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from types import FrameType

_SKIPPED = frozenset({"torch", "jax", "cupy"})
_HELPERS = "skbio.util._testing"


class SkipArrayLibrariesInSkbioTests:
    """A finder that refuses ``torch``, ``jax`` and ``cupy`` to scikit-bio's testing helpers."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        """Refuse the three libraries when imported from the helpers' module; else stand aside.

        Raises
        ------
        ModuleNotFoundError
            For an import of the three made by that module's code (which expects it).
        """
        if name in _SKIPPED and _imported_by_helpers(sys._getframe(1)):
            raise ModuleNotFoundError(
                f"No module named {name!r} (skipped for scikit-bio)", name=name
            )
        return None


def _imported_by_helpers(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_globals.get("__name__") == _HELPERS:
            return True
        frame = frame.f_back
    return False


def install() -> None:
    """Put the finder first among the import finders, once."""
    if not any(isinstance(f, SkipArrayLibrariesInSkbioTests) for f in sys.meta_path):
        sys.meta_path.insert(0, SkipArrayLibrariesInSkbioTests())
