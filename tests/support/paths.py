"""Where things are in the source tree."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository root."""

TEST_TASKS = REPO / "tests" / "tasks"
"""lm-eval tasks used only by the tests (pass it to ``lm_eval --include_path``)."""
