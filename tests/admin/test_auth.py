"""Login, the forced password change, CSRF, throttling, cookies and session timeouts of the admin site."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from yarl import URL

from flow2api.apikeys import API_KEYS
from flow2api.testing import NEW_PASSWORD, AdminClient, AdminSite, FakeWorld

PAGES = [
    "/admin/", "/admin/accounts", "/admin/accounts/1", "/admin/accounts/1/delete", "/admin/keys", "/admin/models",
    "/admin/logs", "/admin/tasks", "/admin/settings", "/admin/playground", "/admin/security",
]
# every state-changing form of the site, with fields that would be valid apart from the token
FORMS = [
    ("/login", {"username": "admin", "password": "admin"}),
    ("/admin/logout", {}),
    ("/admin/password", {"current": NEW_PASSWORD, "new": "another password", "confirm": "another password"}),
    ("/admin/accounts", {"family": "fake", "st": "x" * 40}),
    ("/admin/accounts/import", {"data": "[]"}),
    ("/admin/accounts/export", {"include_secrets": "on"}),
    ("/admin/accounts/1", {"remark": "changed"}),
    ("/admin/accounts/1/disable", {}),
    ("/admin/accounts/1/enable", {}),
    ("/admin/accounts/1/refresh", {}),
    ("/admin/accounts/1/delete", {"confirm": "acct0@fake.test"}),
    ("/admin/keys", {"name": "k"}),
    ("/admin/keys/1", {"name": "k"}),
    ("/admin/keys/1/revoke", {}),
    ("/admin/settings", {"_section": "generation", "generation.image_timeout": "100"}),
    ("/admin/settings/proxy-test", {"proxy_url": "http://127.0.0.1:9"}),
    ("/admin/models/reload", {}),
    ("/admin/security/tokens", {"name": "t"}),
    ("/admin/security/tokens/1/revoke", {}),
]


async def test_pages_send_strangers_to_the_login_page(admin_site: AdminSite) -> None:
    for page in PAGES:
        status, _, resp = await admin_site.client.get(page, allow_redirects=False)
        assert status == 303, page
        assert resp.headers["Location"].startswith("/login?next=")


async def test_login_page_refuses_a_wrong_password(admin_site: AdminSite) -> None:
    status, text, _ = await admin_site.client.login(password="wrong")
    assert status == 401
    assert "Wrong username or password" in text
    status, _, resp = await admin_site.client.get("/admin/", allow_redirects=False)
    assert status == 303 and resp.headers["Location"].startswith("/login")


async def test_default_password_forces_the_change_form_on_every_page(admin_site: AdminSite) -> None:
    status, text, resp = await admin_site.client.login()
    assert status == 200 and resp.url.path == "/admin/password"
    assert "still using the password from the settings file" in text
    for page in PAGES:
        status, _, resp = await admin_site.client.get(page, allow_redirects=False)
        assert (status, resp.headers.get("Location")) == (303, "/admin/password"), page
    status, body, _ = await admin_site.client.api("GET", "/api/accounts")
    assert status == 403 and body["error"]["code"] == "password_change_required"


async def test_password_change_rules_then_success(admin_site: AdminSite) -> None:
    client = admin_site.client
    await client.login()
    for current, new, confirm, reason in [
        ("wrong", NEW_PASSWORD, NEW_PASSWORD, "current password is not correct"),
        ("admin", "short", "short", "at least 8 characters"),
        ("admin", NEW_PASSWORD, NEW_PASSWORD + "x", "two new passwords differ"),
        ("admin", "admin", "admin", "at least 8"),
    ]:
        await client.get("/admin/password")
        status, text, _ = await client.post("/admin/password", {"current": current, "new": new, "confirm": confirm})
        assert status == 400 and reason in text, reason
    status, text, resp = await client.change_password()
    assert status == 200 and resp.url.path == "/admin/" and "Password changed" in text
    for page in PAGES:
        status, _, resp = await client.get(page)
        assert status == 200 and resp.url.path == page, page


async def test_changing_the_password_logs_other_sessions_out(admin: AdminSite) -> None:
    other = admin.new_client()
    await other.login(password=NEW_PASSWORD)
    assert (await other.get("/admin/accounts"))[0] == 200
    await admin.client.change_password(current=NEW_PASSWORD, new="yet another password")
    status, _, resp = await other.get("/admin/accounts", allow_redirects=False)
    assert status == 303 and resp.headers["Location"].startswith("/login")
    assert (await admin.client.get("/admin/accounts"))[0] == 200  # the one who changed it stays in


async def test_every_form_refuses_a_post_without_the_csrf_token(admin: AdminSite) -> None:
    keys_before = await admin.gateway.app[API_KEYS].list()
    for path, fields in FORMS:
        for token in (None, "not-the-token"):
            data = dict(fields)
            if token:
                data["_csrf"] = token
            status, text, _ = await admin.client.post(path, data, csrf=False, allow_redirects=False)
            assert status == 403, (path, token)
            assert "CSRF" in text
    # nothing happened: the account is untouched, no key was created, still logged in with the same password
    record = admin.gateway.pool.records()[0]
    assert record.enabled and record.remark == "" and len(admin.gateway.pool.records()) == 1
    assert await admin.gateway.app[API_KEYS].list() == keys_before
    assert (await admin.client.get("/admin/accounts"))[0] == 200


async def test_a_token_from_another_session_is_refused(admin: AdminSite) -> None:
    other = admin.new_client()
    await other.get("/login")
    status, _, _ = await admin.client.post("/admin/keys", {"name": "x", "_csrf": other.csrf}, allow_redirects=False)
    assert status == 403


async def test_failed_logins_are_throttled_per_address(admin_site: AdminSite) -> None:
    client = admin_site.client
    for _ in range(5):
        assert (await client.login(password="nope"))[0] == 401
    status, text, resp = await client.login()  # the right password, but too late
    assert status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "Too many failed logins" in text
    other = admin_site.new_client()  # same address: the throttle is per client address, not per cookie
    assert (await other.login())[0] == 429


async def test_session_cookie_flags(admin_site: AdminSite) -> None:
    client = admin_site.client
    await client.get("/login")
    status, _, resp = await client.post("/login", {"username": "admin", "password": "admin"}, allow_redirects=False)
    assert status == 303
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("flow2api_admin=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    await client.get("/login")
    status, _, resp = await client.post(
        "/login", {"username": "admin", "password": "admin"}, allow_redirects=False, headers={"X-Forwarded-Proto": "https"},
    )
    assert status == 303 and "Secure" in resp.headers["Set-Cookie"]


async def test_logout_kills_the_cookie_even_if_copied(admin: AdminSite) -> None:
    copied = admin.new_client()
    copied.session.cookie_jar.update_cookies(
        {c.key: c.value for c in admin.client.session.cookie_jar}, response_url=URL(admin.url),
    )
    assert (await copied.get("/admin/accounts"))[0] == 200
    await admin.client.get("/admin/")
    status, _, resp = await admin.client.post("/admin/logout", {}, allow_redirects=False)
    assert status == 303 and resp.headers["Location"] == "/login"
    for client in (admin.client, copied):
        status, _, resp = await client.get("/admin/accounts", allow_redirects=False)
        assert status == 303 and resp.headers["Location"].startswith("/login")


async def test_login_never_redirects_off_site(admin: AdminSite) -> None:
    await admin.client.post("/admin/logout", {})
    await admin.client.get("/login?next=//evil.example/")
    status, _, resp = await admin.client.post(
        "/login", {"username": "admin", "password": NEW_PASSWORD, "next": "//evil.example/"}, allow_redirects=False,
    )
    assert status == 303 and resp.headers["Location"] == "/admin/"


@pytest.mark.parametrize("timeout", ["session_idle_timeout", "session_absolute_timeout"])
async def test_sessions_expire(fake: FakeWorld, timeout: str) -> None:
    limits = {"session_idle_timeout": 100.0, "session_absolute_timeout": 100.0, timeout: 3.0}
    gw = await fake.start(admin=limits)
    client = AdminClient(gw.url)
    try:
        await client.login()
        await client.change_password()  # the session in use from here began when this returned, or earlier
        began = time.monotonic()
        if timeout == "session_absolute_timeout":
            while time.monotonic() - began < 1.5:  # activity does not extend an absolute timeout
                assert (await client.get("/admin/", allow_redirects=False))[0] == 200
                await asyncio.sleep(0.3)
            await asyncio.sleep(3.2 - (time.monotonic() - began))
        else:
            assert (await client.get("/admin/accounts"))[0] == 200
            for _ in range(3):  # the dashboard's background refresh is not activity
                await asyncio.sleep(1.1)
                await client.get("/admin/?fragment=accounts", allow_redirects=False)
        status, _, resp = await client.get("/admin/accounts", allow_redirects=False)
        assert status == 303 and resp.headers["Location"].startswith("/login")
    finally:
        await client.close()


async def test_admin_login_survives_a_restart_and_a_changed_file_resets_it(tmp_path: Path, fake: FakeWorld) -> None:
    first = await fake.start()
    client = AdminClient(first.url)
    try:
        await client.login()
        await client.change_password()
        await first.server.close()
        stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("flow2api.db*"))
        assert b"$argon2id$" in stored and NEW_PASSWORD.encode() not in stored

        second = await fake.start()  # the same data directory
        client.base = second.url
        assert (await client.login(password="admin"))[0] == 401
        status, _, resp = await client.login(password=NEW_PASSWORD)
        assert status == 200 and resp.url.path == "/admin/"  # no forced change: the password was changed
        await second.server.close()

        reset = await fake.start(**{"global": {"admin_password": "from-the-file"}})
        client.base = reset.url
        assert (await client.login(password=NEW_PASSWORD))[0] == 401
        status, _, resp = await client.login(password="from-the-file")
        assert status == 200 and resp.url.path == "/admin/password"
    finally:
        await client.close()


async def test_security_headers_on_admin_pages(admin: AdminSite) -> None:
    _, _, resp = await admin.client.get("/admin/")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    _, _, resp = await admin.client.get("/login")
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_unknown_admin_page_is_an_html_404(admin: AdminSite) -> None:
    status, text, resp = await admin.client.get("/admin/nowhere")
    assert status == 404 and resp.content_type == "text/html" and "<h1>404</h1>" in text
