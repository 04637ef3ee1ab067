"""The admin JSON API: admin tokens and session auth, every resource, and the OpenAI error shape."""

from __future__ import annotations

import pproxy

from flow2api.apikeys import API_KEYS
from flow2api.settings import SETTINGS
from flow2api.testing import FAKE_IMAGE_MODEL as MODEL
from flow2api.testing import API_KEY, AdminSite
from flow2api.testing import assert_api_error as assert_error


async def test_auth_refusals_have_the_error_shape(admin_site: AdminSite) -> None:
    client = admin_site.client
    status, body, _ = await client.api("GET", "/api/accounts")
    assert_error(status, body, 401, "invalid_api_key")
    status, body, _ = await client.api("GET", "/api/accounts", token="f2a-admin-not-a-real-token")
    assert_error(status, body, 401, "invalid_api_key")
    status, body, _ = await client.api("GET", "/api/accounts", token="sk-some-client-key")
    assert_error(status, body, 401, "invalid_api_key")


async def test_token_from_the_security_page_works_and_is_shown_once(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    _, page, _ = await admin.client.get("/admin/security")
    assert token not in page and token[:14] in page
    anonymous = admin.new_client()
    status, body, _ = await anonymous.api("GET", "/api/overview", token=token)
    assert status == 200 and body["version"] and body["states"]["active"] == 1
    assert body["catalog"]["models"] == 5  # the fake catalog (flow2api.testing.write_fake_catalog)
    status, body, _ = await anonymous.api("GET", "/api/admin-tokens", token=token)
    assert [t["name"] for t in body["data"]] == ["ci"] and body["data"][0]["last_used_at"]
    status, body, _ = await anonymous.api("DELETE", f"/api/admin-tokens/{body['data'][0]['id']}", token=token)
    assert status == 200 and body["revoked"] is True
    status, body, _ = await anonymous.api("GET", "/api/overview", token=token)
    assert_error(status, body, 401, "invalid_api_key")


async def test_session_auth_needs_the_csrf_header_for_changes(admin: AdminSite) -> None:
    status, body, _ = await admin.client.api("GET", "/api/accounts")
    assert status == 200 and body["total"] == 1
    aid = body["data"][0]["id"]
    status, body, _ = await admin.client.api("PATCH", f"/api/accounts/{aid}", json={"remark": "x"})
    assert_error(status, body, 403, "csrf_failed")
    status, body, _ = await admin.client.api("PATCH", f"/api/accounts/{aid}", json={"remark": "x"}, csrf=True)
    assert status == 200 and body["remark"] == "x"


async def test_accounts_crud_over_any_family(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    api = admin.new_client().api
    secret = "fake-credential-for-bob-0123456789"
    bob = {"token": secret, "email": "bob@example.com"}
    status, body, text = await api("POST", "/api/accounts", token=token,
                                   json={"family": "fake", "credentials": bob, "video_concurrency": 1})
    assert status == 201 and (body["email"], body["tier"], body["video_concurrency"]) == ("bob@example.com", "fake", 1)
    assert body["secrets"]["token"].startswith("********") and secret not in text
    bob_id = body["id"]
    status, body, _ = await api("POST", "/api/accounts", token=token, json={"family": "fake", "credentials": {}})
    assert_error(status, body, 400, "invalid_request")
    assert body["error"]["param"] == "token"
    status, body, _ = await api("POST", "/api/accounts", token=token,
                                json={"family": "fake", "credentials": {"token": "rejected-by-upstream"}})
    assert_error(status, body, 502, "upstream_credential_rejected")
    status, body, _ = await api("GET", "/api/accounts?q=bob", token=token)
    assert [a["id"] for a in body["data"]] == [bob_id] and body["total"] == 2
    status, body, _ = await api("PATCH", f"/api/accounts/{bob_id}", token=token, json={"name": "Bob", "colour": "red"})
    assert_error(status, body, 400, "invalid_request")
    status, body, _ = await api("POST", f"/api/accounts/{bob_id}/disable", token=token)
    assert (body["state"], body["ban_reason"]) == ("disabled", "disabled by the operator")
    status, body, _ = await api("POST", f"/api/accounts/{bob_id}/enable", token=token)
    assert (body["state"], body["ban_reason"]) == ("active", None)
    status, body, text = await api("GET", "/api/accounts/export?include_secrets=true", token=token)
    assert status == 200 and {"token": secret} in [item.get("credentials") for item in body["tokens"]]
    status, body, _ = await api("DELETE", f"/api/accounts/{bob_id}", token=token)
    assert status == 200 and body["deleted"] is True
    status, body, _ = await api("GET", f"/api/accounts/{bob_id}", token=token)
    assert_error(status, body, 404, "not_found")


async def test_keys_crud(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    api = admin.new_client().api
    status, body, _ = await api("POST", "/api/keys", token=token, json={"name": "svc", "rpm": 30, "models": [MODEL]})
    assert status == 201 and body["key"].startswith("sk-f2a-") and body["record"]["models"] == [MODEL]
    key, key_id = body["key"], body["record"]["id"]
    status, body, text = await api("GET", "/api/keys", token=token)
    assert key not in text and body["data"][0]["prefix"] == key[:11]
    status, body, _ = await api("PATCH", f"/api/keys/{key_id}", token=token, json={"models": ["nope"]})
    assert_error(status, body, 400, "invalid_request")
    assert body["error"]["param"] == "models"
    status, body, _ = await api("PATCH", f"/api/keys/{key_id}", token=token, json={"rpm": 0, "enabled": False, "expires_at": 4102444800})
    assert status == 200 and (body["rpm"], body["enabled"], body["expires_at"]) == (0, False, 4102444800)
    status, body, _ = await api("POST", "/api/keys", token=token, json={"rpm": 3})
    assert_error(status, body, 400, "invalid_request")
    assert body["error"]["param"] == "name"
    status, body, _ = await api("DELETE", f"/api/keys/{key_id}", token=token)
    assert status == 200 and await admin.gateway.app[API_KEYS].list() == []
    status, body, _ = await api("DELETE", f"/api/keys/{key_id}", token=token)
    assert_error(status, body, 404, "not_found")


async def test_catalog_settings_logs_tasks(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    api = admin.new_client().api
    status, body, _ = await api("POST", "/api/catalog/reload", token=token)
    assert status == 200 and body["reloaded"] is True and body["catalog"]["last_error"] is None
    status, body, _ = await api("GET", "/api/models", token=token)
    assert MODEL in {m["id"] for m in body["data"]}
    status, body, text = await api("GET", "/api/settings", token=token)
    fields = {(f["section"], f["key"]): f for f in body["fields"]}
    assert fields[("global", "api_key")]["kind"] == "secret" and fields[("global", "api_key")]["value"] is None
    assert API_KEY not in text
    status, body, _ = await api("PATCH", "/api/settings", token=token, json={"admin": {"error_ban_threshold": 9}})
    assert status == 200 and body["changed"] == {"admin": ["error_ban_threshold"]}
    assert admin.gateway.app[SETTINGS].current.admin.error_ban_threshold == 9
    for bad in ({"admin": {"error_ban_threshold": -1}}, {"server": {"port": 1}}, {"admin": {"nope": 1}}, [1]):
        status, body, _ = await api("PATCH", "/api/settings", token=token, json=bad)
        assert status == 400 and body["error"]["code"] in ("invalid_settings", "invalid_request"), bad
    status, body, _ = await api("GET", "/api/logs?status=2xx&limit=5", token=token)
    assert status == 200 and all(200 <= r["status"] < 300 for r in body["data"])
    status, body, _ = await api("GET", "/api/logs?status=nonsense", token=token)
    assert_error(status, body, 400, "invalid_request")
    status, body, _ = await api("GET", "/api/tasks?limit=x", token=token)
    assert_error(status, body, 400, "invalid_request")
    status, body, _ = await api("GET", "/api/tasks", token=token)
    assert status == 200 and body["data"] == []
    status, body, _ = await api("GET", "/api/nowhere", token=token)
    assert_error(status, body, 404, "not_found")
    status, body, _ = await api("PUT", "/api/keys", token=token)
    assert_error(status, body, 405, "method_not_allowed")


async def test_proxy_test_separates_proxy_and_target_failures(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    api = admin.new_client().api
    server = pproxy.Server("http://127.0.0.1:0")
    handler = await server.start_server({"rserver": [], "verbose": lambda *_: None})
    try:
        port = handler.sockets[0].getsockname()[1]
        status, body, _ = await api("POST", "/api/proxies/test", token=token,
                                    json={"proxy_url": f"http://127.0.0.1:{port}", "target_url": f"{admin.url}/health"})
        assert status == 200 and body["ok"] is True and body["stage"] == "target" and body["status"] == 200
        assert body["message"] == "target answered HTTP 200"
        status, body, _ = await api("POST", "/api/proxies/test", token=token,
                                    json={"proxy_url": f"http://127.0.0.1:{port}", "target_url": f"{admin.url}/api/overview"})
        assert body["stage"] == "target" and body["message"] == "target answered HTTP 401"
    finally:
        handler.close()
        await handler.wait_closed()
    status, body, text = await api("POST", "/api/proxies/test", token=token,
                                   json={"proxy_url": "socks5://me:pw-in-url@127.0.0.1:9", "target_url": f"{admin.url}/health"})
    assert status == 200 and body["ok"] is False and body["stage"] == "proxy"
    assert body["message"].startswith("proxy could not connect") and "pw-in-url" not in text
    status, body, _ = await api("POST", "/api/proxies/test", token=token, json={"proxy_url": "gopher://x"})
    assert_error(status, body, 400, "invalid_request")
    assert body["error"]["param"] == "proxy_url"


async def test_a_number_json_cannot_hold_is_a_400_not_a_500(admin: AdminSite) -> None:
    token = await admin.client.create_admin_token()
    client = admin.new_client()
    raw = b'{"st": "x", "video_concurrency": ' + b"9" * 4301 + b"}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with client.session.post(client.base + "/api/accounts", data=raw, headers=headers) as resp:
        assert_error(resp.status, await resp.json(), 400, "invalid_request")
