"""phylolm-harness: family trees of language models from lm-evaluation-harness runs."""

from __future__ import annotations

from phylolm_harness import _skbio_import

__version__ = "0.1.0"

_skbio_import.install()
