"""A browser-like client for the admin site (cookie jar, CSRF tokens taken from the pages) and its fixture.

Part of :mod:`flow2api.testing`: the admin tests of the core (over the fake family) and of a provider
distribution (over its emulator) drive the same pages with it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

#: The password the ``admin`` fixtures change the default ``admin`` password to.
NEW_PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
_ADMIN_TOKEN = re.compile(r'value="(f2a-admin-[^"]+)"')


class AdminClient:
    """Talks to one gateway like a browser does: keeps cookies, reads the CSRF token off each page it gets."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies on 127.0.0.1
        self.csrf = ""

    async def close(self) -> None:
        await self.session.close()

    def _remember(self, text: str) -> None:
        match = _CSRF.search(text)
        if match:
            self.csrf = match.group(1)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str, aiohttp.ClientResponse]:
        """GET ``path`` (redirects followed unless ``allow_redirects=False``): status, body, response."""
        async with self.session.get(self.base + path, **kwargs) as resp:
            text = await resp.text()
        self._remember(text)
        return resp.status, text, resp

    async def post(self, path: str, data: dict | aiohttp.FormData | None = None, *, csrf: bool = True,
                   **kwargs: Any) -> tuple[int, str, aiohttp.ClientResponse]:
        """POST a form with this session's CSRF token (unless ``csrf=False``): status, body, response."""
        if isinstance(data, aiohttp.FormData):
            if csrf:
                data.add_field("_csrf", self.csrf)
        else:
            data = dict(data or {})
            if csrf:
                data.setdefault("_csrf", self.csrf)
        async with self.session.post(self.base + path, data=data, **kwargs) as resp:
            text = await resp.text()
        self._remember(text)
        return resp.status, text, resp

    async def api(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                  csrf: bool = False) -> tuple[int, Any, str]:
        """Call the admin JSON API (with an admin ``token``, else the session cookie): status, JSON, raw text."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        async with self.session.request(method, self.base + path, json=json, headers=headers) as resp:
            text = await resp.text()
            body = await resp.json(content_type=None) if text else None
        return resp.status, body, text

    async def login(self, username: str = "admin", password: str = "admin") -> tuple[int, str, aiohttp.ClientResponse]:
        """Open the login page (for its CSRF token) and log in; redirects followed."""
        await self.get("/login")
        return await self.post("/login", {"username": username, "password": password, "next": "/admin/"})

    async def change_password(self, current: str = "admin", new: str = NEW_PASSWORD) -> tuple[int, str, aiohttp.ClientResponse]:
        """Submit the password form (after visiting it for the token)."""
        await self.get("/admin/password")
        return await self.post("/admin/password", {"current": current, "new": new, "confirm": new})

    async def save_settings(self, sections: list[str], fields: dict[str, str]) -> str:
        """Submit the settings form for ``sections`` with ``fields`` (``{"generation.image_timeout": "100"}``),
        after visiting the page for its token; returns the page the site answers with."""
        await self.get("/admin/settings")
        data = [("_csrf", self.csrf)] + [("_section", s) for s in sections] + list(fields.items())
        _, text, _ = await self.post("/admin/settings", aiohttp.FormData(data), csrf=False)
        return text

    async def create_admin_token(self, name: str = "ci") -> str:
        """Create an admin API token on the security page, as an operator does; returns it (shown once).

        Needs a logged-in client; raises ``AssertionError`` when the page shows no new token.
        """
        await self.get("/admin/security")
        _, text, _ = await self.post("/admin/security/tokens", {"name": name})
        match = _ADMIN_TOKEN.search(text)
        assert match, "the security page showed no new admin token"
        return match.group(1)


def assert_api_error(status: int, body: Any, expected_status: int, code: str) -> None:
    """Assert an admin/``/v1`` answer is exactly the OpenAI error shape ``{"error": {message, type, param, code}}``
    with HTTP ``expected_status``, error ``code`` and a non-empty message."""
    assert status == expected_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code and body["error"]["message"]


@dataclass
class AdminSite:
    """A running gateway with an admin client; ``new_client()`` opens more (closed after the test).

    ``gateway`` is a :class:`flow2api.testing.Gateway`; ``upstream`` is the emulator handle of a provider
    distribution's fixture (``None`` over the fake family).
    """

    gateway: Any
    client: AdminClient
    new_client: Callable[[], AdminClient]
    upstream: Any = None

    @property
    def url(self) -> str:
        return self.gateway.url

    async def log_in(self) -> AdminSite:
        """Log :attr:`client` in and change the password to :data:`NEW_PASSWORD`; fails unless it leads to the dashboard."""
        await self.client.login()
        status, _, resp = await self.client.change_password()
        assert status == 200 and resp.url.path == "/admin/", "password change did not lead to the dashboard"
        return self


@pytest.fixture
async def admin_clients() -> AsyncIterator[Callable[..., AdminSite]]:
    """``admin_clients(gateway, upstream=None)`` → an :class:`AdminSite` whose clients are closed after the test."""
    clients: list[AdminClient] = []

    def site(gateway: Any, upstream: Any = None) -> AdminSite:
        def new_client() -> AdminClient:
            client = AdminClient(gateway.url)
            clients.append(client)
            return client

        return AdminSite(gateway, new_client(), new_client, upstream)

    yield site
    for client in clients:
        await client.close()
