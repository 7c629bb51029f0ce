"""Where the lm-eval task folder of this package lives."""

from __future__ import annotations

from pathlib import Path


def tasks_dir() -> Path:
    """Folder of the PhyloLM lm-eval tasks: inside the installed package, else the source tree."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "tasks"
    return shipped if shipped.is_dir() else package.parent / "tasks"
