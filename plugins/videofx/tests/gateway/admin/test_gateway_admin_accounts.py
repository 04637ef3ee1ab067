"""Accounts pages: add by ST against the emulator, search and filter, edit, enable/disable, refresh,
delete with confirmation, import (original format, paste and upload) and export."""

from __future__ import annotations

import json

import aiohttp

from flow2api.testing import AdminSite


def account_id(admin: AdminSite, email: str) -> int:
    return next(r.id for r in admin.gateway.pool.records() if r.email == email)


async def test_add_by_st_checks_upstream_and_masks_the_secret(admin: AdminSite) -> None:
    account = admin.upstream.emulator.add_account("bob@example.com", tier="PAYGATE_TIER_TWO", credits=1234)
    await admin.client.get("/admin/accounts")
    status, text, resp = await admin.client.post("/admin/accounts", {"st": account.st, "remark": "team b", "image_concurrency": "2"})
    assert status == 200 and resp.url.path.startswith("/admin/accounts/")
    assert "added: tier PAYGATE_TIER_TWO, credits 1234" in text
    record = admin.gateway.pool.records()[-1]
    assert (record.email, record.remark, record.image_concurrency) == ("bob@example.com", "team b", 2)
    assert account.st not in text and record.secrets["at"] not in text
    assert "st ********" in text  # the masked form
    _, listing, _ = await admin.client.get("/admin/accounts")
    assert "bob@example.com" in listing and account.st not in listing and record.secrets["at"] not in listing


async def test_a_rejected_st_is_reported_and_nothing_is_stored(admin: AdminSite) -> None:
    await admin.client.get("/admin/accounts")
    status, text, _ = await admin.client.post("/admin/accounts", {"st": "not-a-session-token-at-all-0123456789"})
    assert status == 200 and "Account not added" in text
    assert len(admin.gateway.pool.records()) == 1


async def test_search_and_state_filter(admin: AdminSite) -> None:
    for email in ("carol@example.com", "dave@example.com"):
        acc = admin.upstream.emulator.add_account(email)
        await admin.gateway.pool.add("videofx", {"st": acc.st}, remark=f"remark of {email.split('@')[0]}")
    await admin.gateway.pool.update(account_id(admin, "dave@example.com"), enabled=False)
    _, text, _ = await admin.client.get("/admin/accounts?q=carol")
    assert "carol@example.com" in text and "dave@example.com" not in text and "alice@example.com" not in text
    _, text, _ = await admin.client.get("/admin/accounts?q=REMARK+OF+DAVE")
    assert "dave@example.com" in text and "carol@example.com" not in text
    _, text, _ = await admin.client.get("/admin/accounts?state=disabled")
    assert "dave@example.com" in text and "carol@example.com" not in text
    _, text, _ = await admin.client.get("/admin/accounts?state=active")
    assert "dave@example.com" not in text and "carol@example.com" in text and "alice@example.com" in text


async def test_edit_enable_disable_refresh(admin: AdminSite) -> None:
    pool = admin.gateway.pool
    aid = pool.records()[0].id
    await admin.client.get(f"/admin/accounts/{aid}")
    status, text, _ = await admin.client.post(f"/admin/accounts/{aid}", {
        "name": "Alice", "remark": "primary", "image_concurrency": "3", "video_concurrency": "-1",
        "image_enabled": "on", "proxy_url": "socks5h://user:pw-secret@127.0.0.1:1080",
    })
    assert status == 200 and "Account saved" in text
    record = pool.records()[0]
    assert (record.name, record.remark, record.image_concurrency, record.video_enabled) == ("Alice", "primary", 3, False)
    assert record.proxy_url == "socks5h://user:pw-secret@127.0.0.1:1080"
    assert "pw-secret" not in text and "socks5h://user:***@127.0.0.1:1080" in text  # write-only, redacted
    # an empty proxy input keeps it; the clear box removes it
    await admin.client.post(f"/admin/accounts/{aid}", {"remark": "primary", "image_enabled": "on"})
    assert pool.records()[0].proxy_url is not None
    await admin.client.post(f"/admin/accounts/{aid}", {"remark": "", "clear_proxy": "on", "video_enabled": "on"})
    assert pool.records()[0].proxy_url is None and pool.records()[0].remark == ""
    # invalid input is refused with the field named, nothing changes
    status, text, _ = await admin.client.post(f"/admin/accounts/{aid}", {"image_concurrency": "-5"})
    assert "Not saved: image_concurrency" in text and pool.records()[0].image_concurrency == 3
    status, text, _ = await admin.client.post(f"/admin/accounts/{aid}", {"proxy_url": "ftp://x"})
    assert "Not saved: proxy_url" in text

    await admin.client.post(f"/admin/accounts/{aid}/disable", {})
    assert not pool.records()[0].enabled and pool.records()[0].ban_reason == "disabled by the operator"
    await pool.update(aid, consecutive_errors=2)
    _, text, _ = await admin.client.post(f"/admin/accounts/{aid}/enable", {})
    assert "enabled" in text
    record = pool.records()[0]
    assert record.enabled and record.ban_reason is None and record.consecutive_errors == 0

    admin.upstream.emulator.add_account("alice@example.com", tier="PAYGATE_TIER_ONE", credits=77)
    _, text, _ = await admin.client.post(f"/admin/accounts/{aid}/refresh", {})
    assert "Refreshed: tier PAYGATE_TIER_ONE, credits 77" in text
    assert pool.records()[0].credits == 77


async def test_refresh_of_a_dead_st_reports_and_disables(admin: AdminSite) -> None:
    aid = admin.gateway.pool.records()[0].id
    await admin.gateway.pool.repo.update(aid, secrets={"st": "revoked-session-token-0123456789abcdef"})
    await admin.gateway.pool.load()
    await admin.client.get(f"/admin/accounts/{aid}")
    _, text, _ = await admin.client.post(f"/admin/accounts/{aid}/refresh", {})
    assert "Refresh failed" in text
    assert not admin.gateway.pool.records()[0].enabled


async def test_delete_needs_the_email_typed(admin: AdminSite) -> None:
    aid = admin.gateway.pool.records()[0].id
    status, text, _ = await admin.client.get(f"/admin/accounts/{aid}/delete")
    assert status == 200 and "Type the e-mail to confirm" in text
    _, text, _ = await admin.client.post(f"/admin/accounts/{aid}/delete", {"confirm": "someone@else"})
    assert "Not deleted" in text and len(admin.gateway.pool.records()) == 1
    _, text, resp = await admin.client.post(f"/admin/accounts/{aid}/delete", {"confirm": "ALICE@example.com"})
    assert resp.url.path == "/admin/accounts" and "deleted" in text
    assert admin.gateway.pool.records() == []
    assert (await admin.client.get(f"/admin/accounts/{aid}"))[0] == 404


async def test_import_the_original_projects_formats(admin: AdminSite) -> None:
    emulator = admin.upstream.emulator
    erin, frank = emulator.add_account("erin@example.com"), emulator.add_account("frank@example.com")
    alice_st = emulator.add_account("alice@example.com").st
    # the original's import body: {"tokens": [...]}, with its field names; one bad token, one upsert
    body = {"tokens": [
        {"email": "ignored@x", "access_token": "ignored", "session_token": erin.st, "is_active": True,
         "image_enabled": True, "video_enabled": False,
         "image_concurrency": 2, "video_concurrency": -1},
        {"session_token": "dead-session-token-0123456789abcdef"},
        {"email": "no-token@example.com"},
        {"session_token": alice_st, "is_active": False},
    ]}
    await admin.client.get("/admin/accounts")
    _, text, _ = await admin.client.post("/admin/accounts/import", {"data": json.dumps(body)})
    assert "Import: 1 added, 1 updated, 2 failed." in text
    assert "Item 2:" in text and "Item 3: missing session_token" in text
    pool = admin.gateway.pool
    erin_record = next(r for r in pool.records() if r.email == "erin@example.com")
    assert (erin_record.video_enabled, erin_record.image_concurrency) == (False, 2)
    assert not next(r for r in pool.records() if r.email == "alice@example.com").enabled
    assert erin.st not in text

    # the original's export file is a bare list; uploaded as a file this time
    form = aiohttp.FormData()
    form.add_field("file", json.dumps([{"email": "frank@example.com", "session_token": frank.st}]).encode(),
                   filename="tokens_2026-01-01.json", content_type="application/json")
    _, text, _ = await admin.client.post("/admin/accounts/import", form)
    assert "Import: 1 added, 0 updated, 0 failed." in text
    assert {r.email for r in pool.records()} == {"alice@example.com", "erin@example.com", "frank@example.com"}


async def test_import_refuses_what_it_cannot_read(admin: AdminSite) -> None:
    await admin.client.get("/admin/accounts")
    _, text, _ = await admin.client.post("/admin/accounts/import", {"data": '{"something": "else"}'})
    assert "Nothing imported" in text
    _, text, _ = await admin.client.post("/admin/accounts/import", {"data": "not json at all"})
    assert "Nothing imported" in text


async def test_export_has_secrets_only_when_asked(admin: AdminSite) -> None:
    record = admin.gateway.pool.records()[0]
    await admin.client.get("/admin/accounts")
    status, text, resp = await admin.client.post("/admin/accounts/export", {})
    assert status == 200 and "attachment" in resp.headers["Content-Disposition"]
    plain = json.loads(text)
    assert plain["secrets_included"] is False and plain["tokens"][0]["email"] == "alice@example.com"
    assert record.secrets["st"] not in text and "session_token" not in plain["tokens"][0]
    _, text, resp = await admin.client.post("/admin/accounts/export", {"include_secrets": "on"})
    full = json.loads(text)
    assert full["tokens"][0]["session_token"] == record.secrets["st"]
    assert full["tokens"][0]["access_token"] == record.secrets["at"]
    assert "with-secrets" in resp.headers["Content-Disposition"]
    # and it round-trips: the exported file imports back as an update of the same account
    _, text, _ = await admin.client.get("/admin/accounts")
    _, text, _ = await admin.client.post("/admin/accounts/import", {"data": json.dumps(full)})
    assert "Import: 0 added, 1 updated, 0 failed." in text


async def test_account_page_shows_its_error_history(admin: AdminSite) -> None:
    from flow2api.storage.tasks import REQUEST_LOGS

    aid = admin.gateway.pool.records()[0].id
    admin.gateway.app[REQUEST_LOGS].add(
        request_id="r-fail-1", method="POST", path="/v1/chat/completions", status=502, duration_ms=12.0,
        model="veo_3_1_t2v_fast_landscape", account_id=aid, api_key="global", error="upstream_unavailable: boom",
    )
    await admin.gateway.pool.update(aid, last_error="upstream said no", consecutive_errors=1)
    _, text, _ = await admin.client.get(f"/admin/accounts/{aid}")
    assert "upstream said no" in text and "veo_3_1_t2v_fast_landscape" in text and "502" in text
