"""phylolm-harness: family trees of language models from lm-evaluation-harness runs."""

from __future__ import annotations

__version__ = "0.1.0"
