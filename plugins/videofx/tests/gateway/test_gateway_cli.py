"""The command line as a user runs it with the VideoFX family: real subprocesses, the emulator on loopback, a tmp data dir."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from openai import AsyncOpenAI

from videofx_gateway import REPO, Upstream

from flow2api.testing import run_cli as flow2api
from flow2api.testing.processes import free_port, wait_ready, write_config

PNG = b"\x89PNG\r\n\x1a\n"


def config_for(tmp_path: Path, upstream: Upstream) -> Path:
    """``tmp_path/flow2api.toml`` with the ``[flow]``/``[captcha]`` sections pointing at the emulator."""
    return write_config(tmp_path / "flow2api.toml", upstream.sections())


async def test_accounts_add_and_list(tmp_path: Path, upstream: Upstream) -> None:
    account = upstream.emulator.add_account("cli@example.com", tier="PAYGATE_TIER_TWO", credits=42)
    config = config_for(tmp_path, upstream)
    data = str(tmp_path / "data")
    code, out, err = await flow2api("accounts", "add", "--st", account.st, "--config", str(config), "--data-dir", data)
    assert code == 0, err
    assert "cli@example.com" in out and "PAYGATE_TIER_TWO" in out and "credits 42" in out
    code, out, err = await flow2api("accounts", "list", "--config", str(config), "--data-dir", data)
    assert code == 0 and "cli@example.com" in out
    for text in (out, err):
        assert account.st not in text and account.st[-12:] not in text
    header, row = (line.split("\t") for line in out.strip().splitlines())
    assert header == ["id", "family", "email", "tier", "credits", "state", "image", "video", "proxy", "secret"]
    assert row[6:9] == ["unlimited", "unlimited", "direct"]


async def test_accounts_list_shows_slots_and_the_proxy_without_its_credentials(tmp_path: Path, upstream: Upstream) -> None:
    """Issue 19: the image/video concurrency and the proxy (user and password left out) of each account."""
    account = upstream.emulator.add_account("slots@example.com", tier="PAYGATE_TIER_ONE")
    common = ("--config", str(config_for(tmp_path, upstream)), "--data-dir", str(tmp_path / "data"))
    assert (await flow2api("accounts", "add", "--st", account.st, *common))[0] == 0
    proxy = "socks5://proxyuser:proxypass@127.0.0.1:1080"
    code, _, err = await flow2api("accounts", "edit", "1", "--proxy", proxy, "--image-concurrency", "3", "--no-video",
                                  *common)
    assert code == 0, err

    def columns(out: str) -> dict[str, str]:
        header, row = (line.split("\t") for line in out.strip().splitlines())
        return dict(zip(header, row, strict=True))

    code, out, err = await flow2api("accounts", "list", *common)
    assert code == 0, err
    assert {k: columns(out)[k] for k in ("image", "video", "proxy")} == {
        "image": "3", "video": "off", "proxy": "socks5://***@127.0.0.1:1080"}
    assert "proxyuser" not in out + err and "proxypass" not in out + err
    # no proxy of its own: the global [proxy] when it is on, else direct
    assert (await flow2api("accounts", "edit", "1", "--proxy", "", "--video-concurrency", "2", "--video", *common))[0] == 0
    with_global = write_config(tmp_path / "global.toml", {
        **upstream.sections(), "proxy": {"proxy_enabled": True, "proxy_url": "http://g:gpass@127.0.0.1:3128"}})
    code, out, err = await flow2api("accounts", "list", "--config", str(with_global), *common[2:])
    assert code == 0, err
    assert (columns(out)["video"], columns(out)["proxy"]) == ("2", "global") and "gpass" not in out + err
    code, out, _ = await flow2api("accounts", "list", *common)
    assert columns(out)["proxy"] == "direct"


async def test_accounts_add_with_a_dead_session_token_fails_cleanly(tmp_path: Path, upstream: Upstream) -> None:
    config = config_for(tmp_path, upstream)
    code, out, err = await flow2api(
        "accounts", "add", "--st", "not-a-real-session-token", "--config", str(config), "--data-dir", str(tmp_path),
    )
    assert code == 1 and "expired or revoked" in err and "Traceback" not in err
    assert "not-a-real-session-token" not in err



async def test_models_check(tmp_path: Path) -> None:
    code, out, _ = await flow2api("models", "check")
    assert code == 0 and "models.yaml" in out
    broken = tmp_path / "models.yaml"
    broken.write_text("version: 1\nmodels:\n  - id: x\n    kind: sound\n    routes: []\n", encoding="utf-8")
    code, _, err = await flow2api("models", "check", str(broken))
    assert code == 2 and f"{broken}:4" in err


async def test_serve_without_accounts_runs_the_demo_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow2api", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
        cwd=REPO, env={**os.environ, "FLOW2API_GLOBAL__API_KEY": "demo-key-123456"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_ready(url, proc)
        async with AsyncOpenAI(base_url=f"{url}/v1", api_key="demo-key-123456", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="gemini-3.1-flash-image-landscape", messages=[{"role": "user", "content": "a lighthouse"}],
                stream=True,
            )
            content = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        image_url = content[content.index("(") + 1:-1]
        async with aiohttp.ClientSession() as session:
            async with session.get(image_url) as resp:
                assert (await resp.read()).startswith(PNG)
            async with session.get(f"{url}/health") as resp:
                health = await resp.json()
        assert health["demo"] is True and health["accounts"]["enabled"] >= 1  # one demo account per installed family
        assert (tmp_path / "data" / "demo" / "flow2api.db").exists()
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "demo mode" in err.decode()


async def test_account_management_commands(tmp_path: Path, upstream: Upstream) -> None:
    import json

    first = upstream.emulator.add_account("one@example.com", tier="PAYGATE_TIER_ONE", credits=10)
    second = upstream.emulator.add_account("two@example.com", tier="PAYGATE_TIER_ONE", credits=20)
    config = config_for(tmp_path, upstream)
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    original_format = {"tokens": [{"session_token": first.st, "email": "ignored@x", "is_active": True},
                                  {"session_token": second.st, "is_active": False, "image_concurrency": 2},
                                  {"session_token": "dead-token"}]}
    source = tmp_path / "tokens.json"
    source.write_text(json.dumps(original_format), encoding="utf-8")
    code, out, err = await flow2api("accounts", "import", str(source), *common)
    assert code == 0, err
    assert out.startswith("2 added, 0 updated, 1 failed") and "item 3" in out and "dead-token" not in out

    code, out, _ = await flow2api("accounts", "export", *common)
    exported = json.loads(out)["tokens"]
    assert [t["email"] for t in exported] == ["one@example.com", "two@example.com"]
    assert [t["is_active"] for t in exported] == [True, False] and exported[1]["image_concurrency"] == 2
    assert first.st not in out and "session_token" not in exported[0]
    code, out, _ = await flow2api("accounts", "export", "--with-secrets", "-o", str(tmp_path / "full.json"), *common)
    assert json.loads((tmp_path / "full.json").read_text())["tokens"][0]["session_token"] == first.st

    assert (await flow2api("accounts", "enable", "2", *common))[0] == 0
    assert (await flow2api("accounts", "edit", "1", "--remark", "main", "--no-video", "--image-concurrency", "3", *common))[0] == 0
    upstream.emulator.add_account("one@example.com", tier="PAYGATE_TIER_TWO", credits=99)
    code, out, _ = await flow2api("accounts", "refresh", "1", *common)
    assert code == 0 and "PAYGATE_TIER_TWO" in out and "credits 99" in out
    code, out, _ = await flow2api("accounts", "list", *common)
    rows = [line.split("\t") for line in out.strip().splitlines()[1:]]
    assert [r[5] for r in rows] == ["enabled", "enabled"]
    code, out, _ = await flow2api("accounts", "export", *common)
    one = json.loads(out)["tokens"][0]
    assert one["remark"] == "main" and one["video_enabled"] is False and one["image_concurrency"] == 3
    assert (await flow2api("accounts", "delete", "2", *common))[0] == 0
    code, _, err = await flow2api("accounts", "disable", "2", *common)
    assert code == 2 and "no account 2" in err




async def test_accounts_add_reads_the_session_token_from_a_file_or_stdin(tmp_path: Path, upstream: Upstream) -> None:
    """``--st-file PATH`` and ``--st -`` keep the ST out of argv (issue 18 item 16); a missing file is exit 2."""
    config = str(config_for(tmp_path, upstream))
    data = str(tmp_path / "data")
    by_file = upstream.emulator.add_account("file@example.com")
    by_stdin = upstream.emulator.add_account("stdin@example.com")
    token = tmp_path / "st.txt"
    token.write_text(f"{by_file.st}\n", encoding="utf-8")
    code, out, err = await flow2api("accounts", "add", "--st-file", str(token), "--config", config, "--data-dir", data)
    assert code == 0 and "file@example.com" in out, err
    code, out, err = await flow2api("accounts", "add", "--st", "-", "--config", config, "--data-dir", data,
                                    stdin=f"{by_stdin.st}\n")
    assert code == 0 and "stdin@example.com" in out, err
    code, out, err = await flow2api("accounts", "add", "--st-file", str(tmp_path / "missing"), "--config", config,
                                    "--data-dir", data)
    assert code == 2 and "cannot read" in err
    for text in (out, err):
        assert by_file.st not in text and by_stdin.st not in text
