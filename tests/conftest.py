"""Shared fixtures: the Flow emulator served on loopback, settings pointing at it, the gateway app.

Providers are built explicitly (tests never scan installed entry points), and
accounts are added through the pool's ``add`` (the function behind
``flow2api accounts add``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from flow2api.app import create_app
from flow2api.startup import prepare
from flow2api.keys import POOL
from flow2api.pool import AccountPool
from flow2api.settings import CORE_SECTIONS, Settings
from flow2api_videofx import VideoFXImageProvider, VideoFXVideoProvider
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator

REPO = Path(__file__).resolve().parent.parent
API_KEY = "test-api-key-0123456789"
VIDEOFX_FACTORIES = {"videofx-image": VideoFXImageProvider, "videofx-video": VideoFXVideoProvider}


@dataclass
class Upstream:
    """The emulator and where it listens."""

    emulator: FlowEmulator
    server: TestServer

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def sections(self) -> dict[str, dict[str, object]]:
        """``[flow]`` and ``[captcha]`` pointing at this emulator, with fast solver polling."""
        return {
            "flow": {"labs_base_url": f"{self.base}/fx/api", "api_base_url": f"{self.base}/v1", "poll_interval": 0.05},
            "captcha": {
                "captcha_method": "yescaptcha", "yescaptcha_base_url": f"{self.base}/solver",
                "yescaptcha_api_key": self.emulator.settings.solver_client_key, "solver_poll_interval": 0.01,
            },
        }


@pytest.fixture
async def upstream(aiohttp_server: Callable) -> Upstream:
    """A fresh Flow emulator on a free loopback port (AT lifetime 1 day, captcha ready at once)."""
    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=2))
    server = await aiohttp_server(emulator.app())
    return Upstream(emulator, server)


def make_settings(tmp_path: Path, upstream: Upstream | None = None, **sections: dict[str, object]) -> Settings:
    """Settings for a test: data in ``tmp_path``, the repo's models.yaml, the test API key, no file watching.

    ``sections`` override keys per section; core sections and plugin sections (``flow``, ``captcha``) alike.
    """
    core = {name: values for name, values in sections.items() if name in CORE_SECTIONS}
    plugin = {name: values for name, values in sections.items() if name not in CORE_SECTIONS}
    base: dict[str, dict[str, object]] = {
        "global": {"api_key": API_KEY},
        "storage": {"data_dir": str(tmp_path / "data")},
        "catalog": {"path": str(REPO / "models.yaml"), "watch": False},
        "generation": {"image_slot_wait_timeout": 0.5, "video_slot_wait_timeout": 0.5},
    }
    for name, values in core.items():
        base.setdefault(name, {}).update(values)
    settings = Settings.model_validate({**base})
    if upstream is not None:
        settings = settings.with_plugin_sections(upstream.sections())
    return settings.with_plugin_sections(plugin)


@dataclass
class Gateway:
    """A running flow2api server (``url`` without trailing slash) and its app."""

    app: web.Application
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def pool(self) -> AccountPool:
        return self.app[POOL]


@pytest.fixture
def start_gateway(aiohttp_server: Callable) -> Callable:
    """``await start_gateway(settings)`` → a :class:`Gateway` with the VideoFX providers, stopped after the test."""

    async def start(settings: Settings, factories: dict | None = None) -> Gateway:
        prepared = prepare(settings, factories or VIDEOFX_FACTORIES)
        app = create_app(prepared.settings, providers=prepared.providers)
        server = await aiohttp_server(app)
        return Gateway(app, server)

    return start


@pytest.fixture
async def gateway(tmp_path: Path, upstream: Upstream, start_gateway: Callable) -> Gateway:
    """A gateway wired to the emulator with one emulator account (Pro tier) already added."""
    gw = await start_gateway(make_settings(tmp_path, upstream))
    account = upstream.emulator.add_account("alice@example.com", tier="PAYGATE_TIER_ONE", credits=500)
    await gw.pool.add("videofx", {"st": account.st})
    return gw
