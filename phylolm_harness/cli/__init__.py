"""The ``phylolm-harness`` command line; one module per group of commands."""

from __future__ import annotations

from phylolm_harness.cli.main import main

__all__ = ["main"]
