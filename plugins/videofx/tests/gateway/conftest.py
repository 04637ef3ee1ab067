"""Fixtures of the gateway tests over the Flow emulator (``upstream``, from ../conftest.py): gateways with the
VideoFX providers, and the admin site over such a gateway.

These tests exercise the core (pipeline, pool, admin, storage) together with the real VideoFX family
end to end; what the core does with any provider is tested over the fakes of :mod:`flow2api.testing`
in the core's tests/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from videofx_gateway import VIDEOFX_FACTORIES, Gateway, Upstream, make_settings

from flow2api.settings import Settings
from flow2api.testing import AdminSite


@pytest.fixture
def start_gateway(start_gateway: Callable[..., Awaitable[Gateway]]) -> Callable[..., Awaitable[Gateway]]:
    """The core's ``start_gateway`` (:mod:`flow2api.testing`: ``startup.prepare`` then ``create_app``) with the
    VideoFX providers as the default: ``await start_gateway(settings, factories=None)`` → a :class:`Gateway`."""

    def start(settings: Settings, factories: Mapping[str, Any] | None = None) -> Awaitable[Gateway]:
        return start_gateway(settings, factories or VIDEOFX_FACTORIES)

    return start


@pytest.fixture
async def gateway(tmp_path: Path, upstream: Upstream, start_gateway: Callable) -> Gateway:
    """A gateway wired to the emulator with one emulator account (Pro tier, 500 credits) already added."""
    gw = await start_gateway(make_settings(tmp_path, upstream))
    account = upstream.emulator.add_account("alice@example.com", tier="PAYGATE_TIER_ONE", credits=500)
    await gw.pool.add("videofx", {"st": account.st})
    return gw


@pytest.fixture
async def admin_site(gateway: Gateway, upstream: Upstream, admin_clients: Callable) -> AdminSite:
    """The ``gateway`` fixture (one emulator account) with an admin client that has not logged in."""
    return admin_clients(gateway, upstream)


@pytest.fixture
async def admin(admin_site: AdminSite) -> AdminSite:
    """:func:`admin_site` logged in, the password changed to ``NEW_PASSWORD``."""
    return await admin_site.log_in()
