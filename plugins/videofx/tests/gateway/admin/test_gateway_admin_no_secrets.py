"""No admin page and no admin JSON answer shows an ST, AT, API key, admin token or solver key in clear."""

from __future__ import annotations

import re

from openai import AsyncOpenAI

from flow2api.testing import API_KEY, NEW_PASSWORD, AdminSite

MODEL = "gemini-3.1-flash-image-landscape"


async def test_no_response_contains_a_secret(admin: AdminSite) -> None:
    client = admin.client
    # make every kind of secret exist: accounts (ST+AT), a created key, an admin token, a proxy password
    bob = admin.upstream.emulator.add_account("bob@example.com")
    await client.get("/admin/accounts")
    await client.post("/admin/accounts", {"st": bob.st, "proxy_url": ""})
    bob_id = next(r.id for r in admin.gateway.pool.records() if r.email == "bob@example.com")
    await client.post(f"/admin/accounts/{bob_id}", {"proxy_url": "http://user:proxy-password-xyz@127.0.0.1:1", "remark": ""})
    _, text, _ = await client.post("/admin/keys", {"name": "k"})
    api_key = re.search(r'value="(sk-f2a-[^"]+)"', text).group(1)
    token = await client.create_admin_token("t")
    sdk = AsyncOpenAI(base_url=f"{admin.url}/v1", api_key=api_key, max_retries=0, timeout=30)
    await sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a quiet harbour"}])

    secrets = {API_KEY, api_key, token, NEW_PASSWORD, "proxy-password-xyz", admin.upstream.emulator.settings.solver_client_key}
    for record in admin.gateway.pool.records():
        secrets |= {v for v in record.secrets.values() if v}
    assert len(secrets) >= 9

    pages = [
        "/admin/", "/admin/?fragment=accounts", "/admin/accounts", "/admin/keys", "/admin/keys/1", "/admin/models",
        "/admin/logs", "/admin/tasks", "/admin/settings", "/admin/playground", "/admin/security", "/admin/password",
    ] + [f"/admin/accounts/{r.id}" for r in admin.gateway.pool.records()] + [f"/admin/accounts/{bob_id}/delete"]
    seen = 0
    for page in pages:
        status, text, _ = await client.get(page)
        assert status == 200, page
        seen += len(text)
        for secret in secrets:
            assert secret not in text, (page, secret[:6])
    endpoints = [
        "/api/overview", "/api/accounts", f"/api/accounts/{bob_id}", "/api/accounts/export", "/api/keys", "/api/keys/1",
        "/api/admin-tokens", "/api/models", "/api/settings", "/api/logs", "/api/tasks",
    ]
    for path in endpoints:
        status, _, text = await client.api("GET", path, token=token)
        assert status == 200, path
        seen += len(text)
        for secret in secrets:
            assert secret not in text, (path, secret[:6])
    # the export shows them only when asked, which proves the sweep above could have seen them
    _, _, text = await client.api("GET", "/api/accounts/export?include_secrets=true", token=token)
    assert bob.st in text
    assert seen > 200_000
