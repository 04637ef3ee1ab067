"""Fixtures of the reliability drills over the Flow emulator (helpers: ``videofx_drills.py``).

Every drill is marked ``reliability``, sends traffic only to 127.0.0.1, bounds
its request loops in count and time, and stops every server it starts. The
heavy variants run only when ``FLOW2API_DRILL_FULL=1`` is set (see
docs/reliability.md for what CI runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator
from videofx_gateway import Upstream


@pytest.fixture
async def drill_upstream(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Upstream:
    """An emulator for drills: 16 px images (cheap to render), every request recorded, captcha ready at once."""
    emulator = FlowEmulator(EmulatorSettings(
        at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=2, image_size=16,
        max_recorded_requests=200_000, fault_seed=8,
    ))
    return Upstream(emulator, await aiohttp_server(emulator.app()))
