"""The login throttle holds under concurrency (issue 18 finding 2) and guards the current-password check (12).

Before, 200 wrong-password POSTs sent at once were all verified (all 401, no 429): the failure was counted
after the slow password hash. Now it is counted before, so of 50 concurrent attempts at most 5 reach the
hash (401) and the rest are refused at once (429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from flow2api.testing import AdminSite
from tests.api.conftest import FakeWorld


async def test_concurrent_wrong_passwords_get_at_most_five_checks(
    fake: FakeWorld, admin_clients: Callable[..., AdminSite],
) -> None:
    site = admin_clients(await fake.start())
    clients = [site.new_client() for _ in range(50)]
    for client in clients:
        await client.get("/login")  # each its own session and CSRF token
    results = await asyncio.gather(*(
        client.post("/login", {"username": "admin", "password": f"wrong {i}", "next": "/admin/"})
        for i, client in enumerate(clients)))
    statuses = [status for status, _, _ in results]
    assert statuses.count(401) == 5 and statuses.count(429) == 45, statuses
    assert all(resp.headers.get("Retry-After") for status, _, resp in results if status == 429)
    # a right password is refused as well while throttled (address and username keys are both at 5)
    status, text, _ = await site.client.login("admin", "admin")
    assert status == 429 and "Too many failed logins" in text


async def test_the_current_password_check_is_throttled(fake: FakeWorld, admin_clients: Callable[..., AdminSite]) -> None:
    site = await admin_clients(await fake.start()).log_in()
    client = site.client
    await client.get("/admin/password")
    results = await asyncio.gather(*(
        client.post("/admin/password", {"current": f"guess {i}", "new": "a new password", "confirm": "a new password"})
        for i in range(12)))
    statuses = [status for status, _, _ in results]
    assert statuses.count(400) == 5 and statuses.count(429) == 7, statuses
