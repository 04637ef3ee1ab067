"""The admin JSON API with the VideoFX family: accounts added by ST (checked against the emulator), refreshed,
exported and imported in the original project's ``session_token`` format; the ``[captcha]`` solver key is
write-only. The family-independent API is tested over the fakes in tests/admin/test_api.py."""

from __future__ import annotations

from flow2api.testing import AdminSite, assert_api_error


async def test_accounts_crud_import_export(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    api = admin.new_client().api
    emulator = admin.upstream.emulator
    bob = emulator.add_account("bob@example.com", tier="PAYGATE_TIER_TWO", credits=900)
    status, body, text = await api("POST", "/api/accounts", token=token, json={"st": bob.st, "remark": "b", "video_concurrency": 1})
    assert status == 201 and body["email"] == "bob@example.com" and body["tier"] == "PAYGATE_TIER_TWO"
    assert body["video_concurrency"] == 1 and bob.st not in text and body["secrets"]["st"].startswith("********")
    bob_id = body["id"]
    status, body, _ = await api("POST", "/api/accounts", token=token, json={"st": "dead-token-0123456789abcdef0123"})
    assert status >= 400 and body["error"]["code"].startswith("upstream")
    status, body, _ = await api("POST", "/api/accounts", token=token, json={"st": bob.st, "colour": "red"})
    assert_api_error(status, body, 400, "invalid_request")
    assert body["error"]["param"] == "colour"
    status, body, _ = await api("GET", "/api/accounts?q=bob", token=token)
    assert [a["email"] for a in body["data"]] == ["bob@example.com"] and body["total"] == 2
    status, body, _ = await api("PATCH", f"/api/accounts/{bob_id}", token=token, json={"image_concurrency": -7})
    assert_api_error(status, body, 400, "invalid_request")
    assert body["error"]["param"] == "image_concurrency"
    status, body, _ = await api("PATCH", f"/api/accounts/{bob_id}", token=token, json={"name": "Bob", "proxy_url": "socks5://u:p@127.0.0.1:1"})
    assert status == 200 and body["name"] == "Bob" and body["proxy"] == "socks5://u:***@127.0.0.1:1"
    await api("PATCH", f"/api/accounts/{bob_id}", token=token, json={"proxy_url": ""})
    status, body, _ = await api("POST", f"/api/accounts/{bob_id}/disable", token=token)
    assert body["state"] == "disabled" and body["ban_reason"] == "disabled by the operator"
    status, body, _ = await api("POST", f"/api/accounts/{bob_id}/enable", token=token)
    assert body["state"] == "active" and body["ban_reason"] is None
    emulator.add_account("bob@example.com", tier="PAYGATE_TIER_TWO", credits=42)
    status, body, _ = await api("POST", f"/api/accounts/{bob_id}/refresh", token=token)
    assert status == 200 and body["credits"] == 42

    status, body, text = await api("GET", "/api/accounts/export", token=token)
    assert status == 200 and body["secrets_included"] is False and bob.st not in text
    status, body, _ = await api("GET", "/api/accounts/export?include_secrets=true", token=token)
    assert bob.st in [t["session_token"] for t in body["tokens"]]
    status, body, _ = await api("GET", "/api/accounts/export?include_secrets=maybe", token=token)
    assert_api_error(status, body, 400, "invalid_request")

    carol = emulator.add_account("carol@example.com")
    status, body, _ = await api("POST", "/api/accounts/import", token=token, json={"tokens": [
        {"session_token": carol.st}, {"session_token": bob.st}, {"nothing": 1},
    ]})
    assert status == 200 and (body["added"], body["updated"], body["failed"]) == (1, 1, 1)
    assert body["errors"] == [{"item": 3, "error": "missing session_token"}]
    status, body, _ = await api("POST", "/api/accounts/import", token=token, json={"other": []})
    assert_api_error(status, body, 400, "invalid_request")

    status, body, _ = await api("DELETE", f"/api/accounts/{bob_id}", token=token)
    assert status == 200 and body["deleted"] is True
    for method in ("GET", "PATCH", "DELETE"):
        status, body, _ = await api(method, f"/api/accounts/{bob_id}", token=token, json={} if method == "PATCH" else None)
        assert_api_error(status, body, 404, "not_found")


async def test_plugin_secrets_are_write_only(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    status, body, text = await admin.new_client().api("GET", "/api/settings", token=token)
    fields = {(f["section"], f["key"]): f for f in body["fields"]}
    assert status == 200 and fields[("captcha", "yescaptcha_api_key")]["set"] is True
    assert fields[("captcha", "yescaptcha_api_key")]["value"] is None
    assert admin.upstream.emulator.settings.solver_client_key not in text
