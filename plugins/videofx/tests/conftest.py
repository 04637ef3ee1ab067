"""The fixture every VideoFX test folder shares: a fast Flow emulator on loopback (``upstream``).

Gateway fixtures come from the core's pytest plugin (:mod:`flow2api.testing`) and from ``gateway/conftest.py``
and ``provider/conftest.py``; helpers live in ``videofx_helpers.py`` (test modules import that, never a conftest).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator
from videofx_helpers import Upstream


@pytest.fixture
async def upstream(aiohttp_server: Callable) -> Upstream:
    """A fresh emulator: AT lifetime 1 day, solver ready at once, videos finish on the 2nd poll."""
    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=2))
    return Upstream(emulator, await aiohttp_server(emulator.app()))
