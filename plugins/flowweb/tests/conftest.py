"""Fixtures of the flowweb tests: the flow.google.com emulator on loopback and a gateway with one account.

``start_gateway`` and the other gateway fixtures come from the core's pytest plugin
(:mod:`flow2api.testing`), so these tests need only the core, flow2api-flowkit and this plugin.
Shared helpers live in ``flowweb_helpers.py`` (test modules import that, never this file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flowweb_helpers import FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, flowweb_settings

from flow2api.testing import Gateway
from flow2api_flowweb.emulator import EmulatorSettings, FlowWebEmulator


@pytest.fixture
async def flowweb(aiohttp_server: Callable) -> FlowWeb:
    """A fresh flow.google.com emulator on a free loopback port (videos finish on the 2nd poll)."""
    emulator = FlowWebEmulator(EmulatorSettings(video_polls_to_finish=2))
    return FlowWeb(emulator, await aiohttp_server(emulator.app()))


@pytest.fixture
async def fw_gateway(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> Gateway:
    """A gateway (flowweb providers, http executor) with one Ultra account ``alice@example.com``."""
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb), FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("alice@example.com", tier=2, credits=500))
    return gateway
