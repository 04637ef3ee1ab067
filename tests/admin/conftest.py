"""Admin-site fixtures over the fake provider family of :mod:`flow2api.testing`.

``admin_site`` is a gateway of fake providers (one account, ``acct0@fake.test``) with an
:class:`~flow2api.testing.AdminClient` that has not logged in; ``admin`` is the same, logged in and past
the forced password change. The admin tests that need a real family's credentials (ST/AT, solver keys,
the original project's import format) run over the Flow emulator in plugins/videofx/tests/gateway/admin.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flow2api.testing import NEW_PASSWORD, AdminClient, AdminSite, FakeWorld  # noqa: F401 - imported by the admin tests


@pytest.fixture
async def admin_site(fake: FakeWorld, admin_clients: Callable[..., AdminSite]) -> AdminSite:
    """A gateway of fake providers with one account and an admin client that has not logged in."""
    return admin_clients(await fake.start())


@pytest.fixture
async def admin(admin_site: AdminSite) -> AdminSite:
    """:func:`admin_site` with its client logged in and the password changed to :data:`NEW_PASSWORD`."""
    return await admin_site.log_in()
