"""Settings page: core changes validated like the file, applied at once, persisted and re-applied at start-up;
secrets write-only and sealed at rest. Plugin sections (applied after a restart) are tested with the VideoFX
family in plugins/videofx/tests/gateway/admin/test_gateway_admin_settings.py."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from flow2api.settings import SETTINGS
from flow2api.testing import API_KEY, AdminClient, AdminSite, FakeWorld


async def v1_status(url: str, key: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status


async def test_page_lists_sections_and_hides_secrets(admin: AdminSite) -> None:
    status, text, _ = await admin.client.get("/admin/settings")
    assert status == 200
    for section in ("[generation]", "[call_logic]", "[admin]", "[proxy]", "[cache]", "[global]"):
        assert section in text, section
    assert API_KEY not in text and 'name="global.api_key"' in text


async def test_core_change_applies_now_and_survives_a_restart(fake: FakeWorld) -> None:
    gw = await fake.start()
    file_video_timeout = gw.app[SETTINGS].current.generation.video_timeout
    client = AdminClient(gw.url)
    try:
        await client.login()
        await client.change_password()
        text = await client.save_settings(["generation", "call_logic"], {
            "generation.image_timeout": "123.5", "generation.max_retries": "1", "call_logic.call_mode": "least_busy",
        })
        assert "Saved: [generation] image_timeout, max_retries; [call_logic] call_mode." in text
        current = gw.app[SETTINGS].current
        assert (current.generation.image_timeout, current.generation.max_retries, current.call_logic.call_mode) == (
            123.5, 1, "least_busy")
        text = await client.save_settings(["generation"], {"generation.image_timeout": "123.5"})
        assert "No changes" in text
        text = await client.save_settings(["generation"], {"generation.image_timeout": "-4"})
        assert "Nothing saved" in text and "[generation] image_timeout: Input should be greater than 0" in text
        assert gw.app[SETTINGS].current.generation.image_timeout == 123.5
        await gw.server.close()

        again = await fake.start()  # same data dir, same file
        current = again.app[SETTINGS].current
        assert (current.generation.image_timeout, current.call_logic.call_mode) == (123.5, "least_busy")
        assert current.generation.video_timeout == file_video_timeout  # untouched keys follow the file
    finally:
        await client.close()


async def test_secret_is_write_only_applies_now_and_is_sealed_at_rest(tmp_path: Path, fake: FakeWorld) -> None:
    gw = await fake.start()
    client = AdminClient(gw.url)
    new_key = "sk-settings-key-rotated-0123456789"
    try:
        await client.login()
        await client.change_password()
        text = await client.save_settings(["global"], {"global.api_key": new_key})
        assert "Saved: [global] api_key." in text and new_key not in text
        assert await v1_status(gw.url, new_key) == 200 and await v1_status(gw.url, API_KEY) == 401
        text = await client.save_settings(["global"], {"global.api_key": ""})  # empty keeps it
        assert "No changes" in text and await v1_status(gw.url, new_key) == 200
        await gw.server.close()
        stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("flow2api.db*"))
        assert stored and new_key.encode() not in stored
        again = await fake.start()
        assert await v1_status(again.url, new_key) == 200
    finally:
        await client.close()


async def test_proxy_test_tells_a_dead_proxy_apart(admin: AdminSite) -> None:
    await admin.client.get("/admin/settings")
    _, text, _ = await admin.client.post("/admin/settings/proxy-test", {
        "proxy_url": "socks5://user:hunter2-secret@127.0.0.1:9", "target_url": f"{admin.url}/health",
    })
    assert "proxy could not connect" in text and "hunter2-secret" not in text
    _, text, _ = await admin.client.post("/admin/settings/proxy-test", {"proxy_url": "ftp://nope"})
    assert "unsupported proxy URL" in text
