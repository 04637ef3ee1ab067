"""Admin-site fixtures: a browser-like HTTP client (cookie jar, CSRF tokens taken from pages).

``admin`` is a gateway wired to the emulator (one Pro account added, see
``tests/conftest.py``) with an :class:`AdminClient` already logged in and past
the forced password change; ``fresh_admin`` is one that has not logged in yet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flow2api.testing import NEW_PASSWORD, AdminClient, AdminSite  # noqa: F401 - imported by the admin tests
from tests.conftest import Gateway, Upstream, make_settings


@pytest.fixture
async def admin_site(gateway: Gateway, upstream: Upstream, admin_clients: Callable[..., AdminSite]) -> AdminSite:
    """The ``gateway`` fixture (one emulator account) with a client that has not logged in."""
    return admin_clients(gateway, upstream)


@pytest.fixture
async def admin(admin_site: AdminSite) -> AdminSite:
    """:func:`admin_site` with its client logged in and the password changed to :data:`NEW_PASSWORD`."""
    return await admin_site.log_in()


def settings_for(tmp_path: Path, upstream: Upstream, **core: dict) -> Any:
    """``make_settings`` with the emulator's plugin sections (shorthand for tests that build their own gateway)."""
    return make_settings(tmp_path, upstream, **core)
