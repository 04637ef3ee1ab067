"""Core-suite fixtures on top of the flow2api pytest plugin (:mod:`flow2api.testing`).

The fake provider, ``make_settings``, ``Gateway``, ``start_gateway``, ``fake`` and ``sdk`` come from
:mod:`flow2api.testing`. What is left here is the VideoFX emulator wiring still used by the core's
end-to-end tests (``upstream``, ``gateway``); tests that need it are being moved to
plugins/videofx/tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from flow2api.app import create_app
from flow2api.startup import prepare
from flow2api.settings import Settings
from flow2api.testing import API_KEY, REPO, Gateway  # noqa: F401 - imported by core tests
from flow2api.testing import make_settings as make_core_settings
from flow2api_videofx import VideoFXImageProvider, VideoFXVideoProvider
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator

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
    """:func:`flow2api.testing.make_settings`, plus the ``[flow]``/``[captcha]`` sections of ``upstream`` if given."""
    plugin = upstream.sections() if upstream is not None else {}
    for name, values in sections.items():
        plugin[name] = {**plugin.get(name, {}), **values}
    return make_core_settings(tmp_path, **plugin)


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
