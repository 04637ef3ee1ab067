"""Settings page with the VideoFX family: its ``[flow]``/``[captcha]`` sections are listed, validated by the
plugin, stored and marked "applies after restart"; the solver key stays write-only. Core sections are tested
over the fakes in tests/admin/test_settings.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from videofx_gateway import Upstream, make_settings

from flow2api.settings import SETTINGS
from flow2api.testing import AdminClient, AdminSite


async def test_page_lists_the_plugin_sections_and_hides_the_solver_key(admin: AdminSite) -> None:
    status, text, _ = await admin.client.get("/admin/settings")
    assert status == 200 and "[captcha]" in text and "[flow]" in text and "applies after restart" in text
    assert 'name="captcha.yescaptcha_api_key"' in text
    assert admin.upstream.emulator.settings.solver_client_key not in text


async def test_plugin_section_is_validated_stored_and_marked_for_restart(
    tmp_path: Path, upstream: Upstream, start_gateway: Callable,
) -> None:
    settings = make_settings(tmp_path, upstream)
    gw = await start_gateway(settings)
    client = AdminClient(gw.url)
    try:
        await client.login()
        await client.change_password()
        text = await client.save_settings(["captcha"], {"captcha.solver_max_polls": "0"})
        assert "Nothing saved" in text and "solver_max_polls" in text
        text = await client.save_settings(["captcha"], {"captcha.solver_max_polls": "7", "captcha.capsolver_api_key": "cap-secret-123456"})
        assert "Saved: [captcha] capsolver_api_key, solver_max_polls." in text
        assert "saved; applies after restart" in text and "cap-secret-123456" not in text
        assert gw.app[SETTINGS].current.plugin_sections["captcha"].get("solver_max_polls") != 7  # not yet
        await gw.server.close()
        again = await start_gateway(settings)
        captcha = again.app[SETTINGS].current.plugin_sections["captcha"]
        assert captcha["solver_max_polls"] == 7 and captcha["capsolver_api_key"] == "cap-secret-123456"
    finally:
        await client.close()
