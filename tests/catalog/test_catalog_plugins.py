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
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FakeWorld, make_settings
from tests.catalog.catalog_helpers import ECHO_DIR, echo_entry_points, echo_model, until, with_models, write_replace

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def echo_factories(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The echo plugin's factories as an installation with flow2api-echo would have them (its directory on sys.path)."""
    monkeypatch.syspath_prepend(str(ECHO_DIR))
    return {ep.name: ep.load() for ep in echo_entry_points()}


def fake_catalog_copy(tmp_path: Path, fake: FakeWorld, *items: str) -> Path:
    """A private copy of the fake providers' catalog in ``tmp_path/catalog/`` with the ``models:`` ``items`` added."""
    (tmp_path / "catalog").mkdir()
    path = tmp_path / "catalog" / "models.yaml"
    path.write_text(with_models(fake.catalog.read_text(encoding="utf-8"), "".join(items)), encoding="utf-8")
    return path


def test_the_entry_point_yields_a_provider_that_fits_the_protocol(tmp_path: Path, echo_factories: dict) -> None:
    [point] = echo_entry_points()
    assert (point.name, point.group) == ("echo-image", "flow2api.providers")
    providers = build_providers(make_settings(tmp_path), echo_factories)
    echo = providers["echo-image"]
    assert isinstance(echo, Provider) and isinstance(echo.family, AccountFamily)
    assert type(echo).__module__ == "flow2api_echo"


async def test_a_model_added_by_editing_yaml_is_served_by_the_plugin(
    tmp_path: Path, fake: FakeWorld, echo_factories: dict,
) -> None:
    path = fake_catalog_copy(tmp_path, fake)
    gw = await fake.start(accounts=0, plugins=echo_factories, catalog={"path": str(path), "watch": True})
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
    assert fake.image.calls == []   # the other provider was never involved


async def test_a_provider_that_is_not_installed_leaves_the_server_running(tmp_path: Path, fake: FakeWorld) -> None:
    path = fake_catalog_copy(tmp_path, fake, echo_model("echo-red"))
    gw = await fake.start(catalog={"path": str(path)})   # the fake providers only, one account
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
        body["model"] = FAKE_IMAGE_MODEL   # everything else still works
        async with session.post(f"{gw.url}/v1/chat/completions", json=body) as resp:
            assert resp.status == 200
