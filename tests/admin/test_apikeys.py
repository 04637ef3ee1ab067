"""API key pages: the key is shown once, works on /v1, limits and models are edited, revoking locks it out."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import aiohttp

from flow2api.apikeys import API_KEYS
from flow2api.testing import FAKE_IMAGE_MODEL as MODEL
from flow2api.testing import FAKE_VIDEO_MODEL, AdminSite


async def models_status(url: str, key: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status


async def test_create_shows_the_key_once_and_it_works(admin: AdminSite) -> None:
    await admin.client.get("/admin/keys")
    status, text, _ = await admin.client.post("/admin/keys", {
        "name": "team a", "rpm": "60", "concurrency": "2", "models": f"{MODEL}, {FAKE_VIDEO_MODEL}",
        "expires_at": "2099-01-31",
    })
    assert status == 200 and "cannot be shown again" in text
    key = re.search(r'value="(sk-f2a-[^"]+)"', text).group(1)
    (record,) = await admin.gateway.app[API_KEYS].list()
    assert (record.name, record.rpm, record.concurrency) == ("team a", 60, 2)
    assert record.models == (MODEL, FAKE_VIDEO_MODEL) and record.expires_at == datetime(2099, 1, 31, tzinfo=timezone.utc).timestamp()
    assert await models_status(admin.url, key) == 200
    _, listing, _ = await admin.client.get("/admin/keys")
    assert key not in listing and record.prefix in listing and "team a" in listing


async def test_unknown_models_and_bad_limits_are_refused(admin: AdminSite) -> None:
    await admin.client.get("/admin/keys")
    _, text, _ = await admin.client.post("/admin/keys", {"name": "x", "models": "no-such-model"})
    assert "Key not created: unknown model id(s): no-such-model" in text
    _, text, _ = await admin.client.post("/admin/keys", {"name": "x", "rpm": "-1"})
    assert "Key not created: rpm" in text
    _, text, _ = await admin.client.post("/admin/keys", {"name": ""})
    assert "Key not created" in text
    assert await admin.gateway.app[API_KEYS].list() == []


async def test_edit_and_revoke(admin: AdminSite) -> None:
    store = admin.gateway.app[API_KEYS]
    record, key = await store.create("ops", rpm=10, models=(MODEL,))
    status, text, _ = await admin.client.get(f"/admin/keys/{record.id}")
    assert status == 200 and MODEL in text
    _, text, _ = await admin.client.post(f"/admin/keys/{record.id}", {
        "name": "ops2", "rpm": "0", "concurrency": "5", "models": "", "expires_at": "", "enabled": "on",
    })
    assert "Key saved" in text
    updated = await store.get(record.id)
    assert (updated.name, updated.rpm, updated.concurrency, updated.models, updated.enabled) == ("ops2", 0, 5, (), True)
    await admin.client.get(f"/admin/keys/{record.id}")
    await admin.client.post(f"/admin/keys/{record.id}", {"name": "ops2"})  # unticked box: disabled
    assert not (await store.get(record.id)).enabled
    assert await models_status(admin.url, key) == 401
    _, text, _ = await admin.client.post(f"/admin/keys/{record.id}/revoke", {})
    assert "revoked" in text and await store.list() == []
    assert (await admin.client.get(f"/admin/keys/{record.id}"))[0] == 404
