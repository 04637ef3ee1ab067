"""The third-party provider story: a plugin found through its entry point serves a model added only by editing YAML.

The echo plugin (``tests/plugins/echo_provider``) is a separate distribution
with a ``flow2api.providers`` entry point in its ``setup.cfg``; the tests load
it through :class:`importlib.metadata.EntryPoint` exactly as discovery does,
never by importing its class.
"""

from __future__ import annotations

import io
from pathlib import Path

import aiohttp
import pytest
from openai import AsyncOpenAI
from PIL import Image

from flow2api.discovery import build_providers
from flow2api.plugin import AccountFamily, Provider
from tests.catalog.catalog_helpers import (
    ECHO_DIR, copy_models_yaml, echo_entry_points, echo_model, until, with_models, write_replace,
)
from tests.conftest import API_KEY, VIDEOFX_FACTORIES, Upstream, make_settings

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def echo_factories(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Provider factories as an installation with flow2api-echo would have them (its directory on sys.path)."""
    monkeypatch.syspath_prepend(str(ECHO_DIR))
    return {**VIDEOFX_FACTORIES, **{ep.name: ep.load() for ep in echo_entry_points()}}


def test_the_entry_point_yields_a_provider_that_fits_the_protocol(tmp_path: Path, echo_factories: dict) -> None:
    [point] = echo_entry_points()
    assert (point.name, point.group) == ("echo-image", "flow2api.providers")
    providers = build_providers(make_settings(tmp_path), echo_factories)
    echo = providers["echo-image"]
    assert isinstance(echo, Provider) and isinstance(echo.family, AccountFamily)
    assert type(echo).__module__ == "flow2api_echo"


async def test_a_model_added_by_editing_yaml_is_served_by_the_plugin(
    tmp_path: Path, upstream: Upstream, start_gateway, echo_factories: dict,
) -> None:
    path = copy_models_yaml(tmp_path)
    settings = make_settings(tmp_path, upstream, catalog={"path": str(path), "watch": True})
    gw = await start_gateway(settings, echo_factories)
    await gw.pool.add("echo", {"token": "painter"})
    client = AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    assert "echo-red" not in {m.id async for m in client.models.list()}

    write_replace(path, with_models(path.read_text(encoding="utf-8"), echo_model("echo-red", "red", 64, 36)))

    async def listed() -> bool:
        return "echo-red" in {m.id async for m in client.models.list()}

    await until(listed, timeout=5.0)
    model = await client.models.retrieve("echo-red")
    want = {"kind": "image", "available": True, "providers": ["echo-image"], "color": "red", "width": 64, "height": 36}
    assert {k: model.model_extra["flow2api"].get(k) for k in want} == want

    stream = await client.chat.completions.create(
        model="echo-red", messages=[{"role": "user", "content": "paint"}], stream=True,
    )
    chunks = [c async for c in stream]
    progress = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks if c.choices)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "echo: painting red" in progress
    url = content.split("(", 1)[1].rstrip(")")
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        image = Image.open(io.BytesIO(await resp.read()))
    assert image.size == (64, 36) and image.convert("RGB").getpixel((5, 5)) == (255, 0, 0)
    assert upstream.emulator.calls("batchGenerateImages") == []   # the videofx upstream was never involved


async def test_a_provider_that_is_not_installed_leaves_the_server_running(
    tmp_path: Path, upstream: Upstream, start_gateway,
) -> None:
    path = copy_models_yaml(tmp_path)
    write_replace(path, with_models(path.read_text(encoding="utf-8"), echo_model("echo-red")))
    gw = await start_gateway(make_settings(tmp_path, upstream, catalog={"path": str(path)}))   # videofx only
    account = upstream.emulator.add_account("bob@example.com", tier="PAYGATE_TIER_ONE", credits=100)
    await gw.pool.add("videofx", {"st": account.st})
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.get(f"{gw.url}/v1/models/echo-red") as resp:
            entry = (await resp.json())["flow2api"]
        assert entry["available"] is False and entry["providers"] == ["echo-image"]
        body = {"model": "echo-red", "messages": [{"role": "user", "content": "paint"}]}
        async with session.post(f"{gw.url}/v1/chat/completions", json=body) as resp:
            error = (await resp.json())["error"]
            assert resp.status == 503
        assert error["code"] == "provider_unavailable" and "'echo-image' is not installed" in error["message"]
        async with session.get(f"{gw.url}/health") as resp:
            warnings = (await resp.json())["catalog"]["warnings"]
        assert any("provider 'echo-image' is not installed; model 'echo-red'" in w for w in warnings)
        body["model"] = "gemini-3.1-flash-image-landscape"   # everything else still works
        async with session.post(f"{gw.url}/v1/chat/completions", json=body) as resp:
            assert resp.status == 200
