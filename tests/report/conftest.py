"""A real headless browser for the page tests: Debian's Chromium, driven by Playwright.

Chromium comes from the system (``apt-get install chromium``; another binary with
``PHYLOLM_CHROMIUM=PATH``), never from Playwright's own download. Without it, or without the
``playwright`` package, the browser tests are skipped with that reason, except where
``PHYLOLM_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("PHYLOLM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def require_browser() -> None:
    """Skip (or fail in CI) unless Playwright and Chromium are both installed."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        missing.append(f"Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    if not missing:
        return
    message = "needs " + " and ".join(missing)
    if os.environ.get("PHYLOLM_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium, for the whole test session."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
