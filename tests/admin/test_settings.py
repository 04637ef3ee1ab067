"""Settings page: runtime changes validated like the file, applied at once (core) or after restart (plugin
sections), persisted and re-applied at start-up; secrets write-only and sealed at rest."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from flow2api.settings import SETTINGS
from tests.admin.conftest import AdminClient, AdminSite
from tests.conftest import API_KEY, Upstream, make_settings


async def v1_status(url: str, key: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status


async def save(client: AdminClient, sections: list[str], fields: dict[str, str]) -> str:
    await client.get("/admin/settings")
    data = [("_csrf", client.csrf)] + [("_section", s) for s in sections] + list(fields.items())
    form = aiohttp.FormData(data)
    _, text, _ = await client.post("/admin/settings", form, csrf=False)
    return text


async def test_page_lists_sections_and_hides_secrets(admin: AdminSite) -> None:
    status, text, _ = await admin.client.get("/admin/settings")
    assert status == 200
    for section in ("[generation]", "[call_logic]", "[admin]", "[proxy]", "[cache]", "[global]", "[captcha]", "[flow]"):
        assert section in text, section
    assert "applies after restart" in text
    solver_key = admin.upstream.emulator.settings.solver_client_key
    assert solver_key not in text and API_KEY not in text
    assert 'name="captcha.yescaptcha_api_key"' in text and 'name="global.api_key"' in text


async def test_core_change_applies_now_and_survives_a_restart(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    settings = make_settings(tmp_path, upstream)
    gw = await start_gateway(settings)
    client = AdminClient(gw.url)
    try:
        await client.login()
        await client.change_password()
        text = await save(client, ["generation", "call_logic"], {
            "generation.image_timeout": "123.5", "generation.max_retries": "1", "call_logic.call_mode": "least_busy",
        })
        assert "Saved: [generation] image_timeout, max_retries; [call_logic] call_mode." in text
        current = gw.app[SETTINGS].current
        assert (current.generation.image_timeout, current.generation.max_retries, current.call_logic.call_mode) == (
            123.5, 1, "least_busy")
        text = await save(client, ["generation"], {"generation.image_timeout": "123.5"})
        assert "No changes" in text
        text = await save(client, ["generation"], {"generation.image_timeout": "-4"})
        assert "Nothing saved" in text and "[generation] image_timeout: Input should be greater than 0" in text
        assert gw.app[SETTINGS].current.generation.image_timeout == 123.5
        await gw.server.close()

        again = await start_gateway(settings)  # same data dir, same file
        current = again.app[SETTINGS].current
        assert (current.generation.image_timeout, current.call_logic.call_mode) == (123.5, "least_busy")
        assert current.generation.video_timeout == settings.generation.video_timeout  # untouched keys follow the file
    finally:
        await client.close()


async def test_secret_is_write_only_applies_now_and_is_sealed_at_rest(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    settings = make_settings(tmp_path, upstream)
    gw = await start_gateway(settings)
    client = AdminClient(gw.url)
    new_key = "sk-settings-key-rotated-0123456789"
    try:
        await client.login()
        await client.change_password()
        text = await save(client, ["global"], {"global.api_key": new_key})
        assert "Saved: [global] api_key." in text and new_key not in text
        assert await v1_status(gw.url, new_key) == 200 and await v1_status(gw.url, API_KEY) == 401
        text = await save(client, ["global"], {"global.api_key": ""})  # empty keeps it
        assert "No changes" in text and await v1_status(gw.url, new_key) == 200
        await gw.server.close()
        stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("flow2api.db*"))
        assert stored and new_key.encode() not in stored
        again = await start_gateway(settings)
        assert await v1_status(again.url, new_key) == 200
    finally:
        await client.close()


async def test_plugin_section_is_validated_stored_and_marked_for_restart(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    settings = make_settings(tmp_path, upstream)
    gw = await start_gateway(settings)
    client = AdminClient(gw.url)
    try:
        await client.login()
        await client.change_password()
        text = await save(client, ["captcha"], {"captcha.solver_max_polls": "0"})
        assert "Nothing saved" in text and "solver_max_polls" in text
        text = await save(client, ["captcha"], {"captcha.solver_max_polls": "7", "captcha.capsolver_api_key": "cap-secret-123456"})
        assert "Saved: [captcha] capsolver_api_key, solver_max_polls." in text
        assert "saved; applies after restart" in text and "cap-secret-123456" not in text
        assert gw.app[SETTINGS].current.plugin_sections["captcha"].get("solver_max_polls") != 7  # not yet
        await gw.server.close()
        again = await start_gateway(settings)
        captcha = again.app[SETTINGS].current.plugin_sections["captcha"]
        assert captcha["solver_max_polls"] == 7 and captcha["capsolver_api_key"] == "cap-secret-123456"
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
