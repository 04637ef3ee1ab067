"""Fixtures for the VideoFX provider tests: gateways wired to the Flow emulator (``upstream``, from ../conftest.py).

Everything runs on free loopback ports and is stopped by pytest-aiohttp at the
end of the test. Settings come from ``flow2api.testing.make_settings``
(repo ``models.yaml``, test API key, data in ``tmp_path``); providers are
built explicitly (no entry-point scan of providers).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from videofx_helpers import API_KEY, VIDEOFX_FACTORIES, Gateway, Upstream, flow_sections

from flow2api.app import create_app
from flow2api.discovery import build_providers
from flow2api.testing import make_settings


@pytest.fixture
def start_gateway(aiohttp_server: Callable, tmp_path: Path, upstream: Upstream) -> Callable:
    """``await start_gateway(flow={…}, captcha={…}, **core_sections)`` → a running :class:`Gateway` on the emulator.

    ``flow``/``captcha`` override the fast test defaults of :func:`flow_sections`.
    """

    async def start(*, flow: dict[str, Any] | None = None, captcha: dict[str, Any] | None = None,
                    **core: dict[str, Any]) -> Gateway:
        sections = flow_sections(upstream, flow=flow, captcha=captcha)
        settings = make_settings(tmp_path, **sections, **core)
        app = create_app(settings, providers=build_providers(settings, VIDEOFX_FACTORIES))
        server = await aiohttp_server(app)
        return Gateway(app, server, upstream)

    return start


@pytest.fixture
async def gateway(start_gateway: Callable) -> Gateway:
    """A gateway with one Pro (PAYGATE_TIER_ONE) emulator account, ``alice@example.com``."""
    gw = await start_gateway()
    await gw.add_account("alice@example.com", tier="PAYGATE_TIER_ONE")
    return gw


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    """A plain client session for client-level tests, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


__all__ = ["API_KEY"]
