"""Issue 19 (first day) and issue 18 finding 11, as a new user meets them: real subprocesses and a real gateway."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from flow2api.clientkey import settle_client_key
from flow2api.settings import SettingsError, load_settings
from flow2api.testing import REPO, run_cli
from flow2api.testing.processes import needs_providers


def test_no_key_configured_generates_one_once(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    first, key = settle_client_key(settings, tmp_path)
    assert key.origin == "generated" and key.value.startswith("sk-f2a-") and key.value != "han1234"
    assert stat.S_IMODE(os.stat(tmp_path / "api_key").st_mode) == 0o600
    again, stored = settle_client_key(settings, tmp_path)
    assert stored.origin == "stored" and stored.value == key.value
    assert again.global_.api_key.get_secret_value() == key.value


def test_the_well_known_key_is_refused_on_a_public_bind(tmp_path: Path) -> None:
    settings = load_settings(environ={"FLOW2API_GLOBAL__API_KEY": "han1234", "FLOW2API_SERVER__HOST": "0.0.0.0"})
    with pytest.raises(SettingsError, match="environment FLOW2API_GLOBAL__API_KEY.*well-known"):
        settle_client_key(settings, tmp_path)
    allowed = settings.with_overrides(origin="test", **{"global": {"allow_default_key": True}})
    assert settle_client_key(allowed, tmp_path)[1].origin == "configured"
    local = load_settings(environ={"FLOW2API_GLOBAL__API_KEY": "han1234"})
    assert settle_client_key(local, tmp_path)[1].origin == "configured"  # loopback: a warning only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_providers()  # demo mode: a family's bundled emulator answers
async def test_serve_from_an_empty_directory_prints_the_banner_and_links(tmp_path: Path) -> None:
    """The shipped catalog is found from any directory; the banner names URL, mode, key and admin login."""
    import aiohttp

    empty = tmp_path / "empty"
    empty.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW2API_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow2api", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
        cwd=empty, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 60)).decode() for _ in range(4)]
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in text and "mode      demo" in text and "no account is stored" in text
        key = lines[3].split()[2]
        assert key.startswith("sk-f2a-")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/", headers={"Accept": "application/json"}) as resp:
                links = await resp.json()
            assert links["admin"].endswith("/admin/") and links["openai_base"].endswith("/v1") and links["demo"] is True
            async with http.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.content_type == "text/html" and "/admin/" in await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {key}"}) as resp:
                assert resp.status == 200 and (await resp.json())["data"]
        # a second server on the same port: one line, no traceback
        code, _, err = await run_cli("serve", "--port", str(port), "--data-dir", str(tmp_path / "data"), cwd=empty, clean=True)
        assert code == 1 and "already in use" in err and "Traceback" not in err and [line for line in err.splitlines() if not line[:4].isdigit()] == [err.strip().splitlines()[-1]]
    finally:
        proc.terminate()
        await proc.wait()
    stderr = (await proc.stderr.read()).decode()
    assert stderr.count("reCAPTCHA source skipped") <= 1


async def test_cli_output_is_quiet_and_keys_follow_the_demo(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    code, out, err = await run_cli("keys", "create", "--name", "ci", "--expires", "2027-01-31", "--data-dir", data, clean=True)
    assert code == 0 and err == "" and "demo mode" in out
    assert (tmp_path / "data" / "demo" / "flow2api.db").is_file()
    code, out, err = await run_cli("keys", "list", "--data-dir", data, clean=True)
    assert code == 0 and err == "" and "2027-01-31 00:00" in out
    code, _, err = await run_cli("serve", "--port", "99999", "--data-dir", data, clean=True)
    assert code == 2 and "error: command line: [server] port" in err
