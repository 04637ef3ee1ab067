"""Fixtures for the Flow emulator tests: a fake clock and the emulator served over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_helpers import FakeClock, FlowClient

from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> EmulatorSettings:
    return EmulatorSettings(image_size=256)


@pytest.fixture
def emulator(settings: EmulatorSettings, clock: FakeClock) -> FlowEmulator:
    return FlowEmulator(settings, clock=clock)


@pytest.fixture
async def http(aiohttp_client: Any, emulator: FlowEmulator) -> Any:
    return await aiohttp_client(emulator.app())


@pytest.fixture
async def flow(http: Any, emulator: FlowEmulator) -> FlowClient:
    """A logged-in client of a fresh PAYGATE_TIER_ONE account."""
    account = emulator.add_account("alice@example.com")
    client = FlowClient(http, emulator, account.st)
    await client.login()
    return client


@pytest.fixture
async def project(flow: FlowClient) -> str:
    return await flow.project()
