"""Debian's headless Chromium driven by the ``playwright`` package, for the admin site's browser tests.

Part of :mod:`flow2api.testing`, imported by name (``from flow2api.testing.browser import chromium``).
The browser is the system's ``/usr/bin/chromium`` passed as ``executable_path``; ``playwright install``
(which downloads browsers) is never needed. A test using :func:`chromium` is skipped, not failed, when
the package or the binary is missing (``pip install playwright``; ``apt-get install -y chromium``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

#: Debian's chromium package installs its binary here.
CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a root container without a GPU: no sandbox, no background traffic to Google.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    async_playwright = None


def require_browser() -> None:
    """Skip the calling test unless the ``playwright`` package and :data:`CHROMIUM` are both installed."""
    if async_playwright is None:
        pytest.skip("the playwright package is not installed (pip install playwright; never `playwright install`)")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")


@pytest.fixture
def browser_available() -> None:
    """Skips the test when no browser can be launched (see :func:`require_browser`)."""
    require_browser()


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """A launched headless ``playwright.async_api.Browser`` on :data:`CHROMIUM`, closed after the test."""
    require_browser()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()
