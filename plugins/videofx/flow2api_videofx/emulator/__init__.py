"""Flow (VideoFX) upstream emulator: a strict, realistic fake of Google Labs Flow's private web API.

Tests, the demo mode and benchmarks point the VideoFX client at it instead of Google
(wire protocol: ``flow-upstream.md`` §1-§3; behaviour and invented details: EMULATOR.md)::

    emulator = FlowEmulator(EmulatorSettings(video_polls_to_finish=2))
    account = emulator.add_account("alice@example.com")
    client = await aiohttp_client(emulator.app())
    urls = FlowEmulator.urls(str(client.make_url("")))   # labs_base_url, api_base_url, solver_base_url

Standalone: ``python -m flow2api_videofx.emulator --port 8765 [--demo-account]``.
"""

from .app import EmulatorURLs, FlowEmulator, create_app
from .faults import FaultInjector, FaultRule
from .keys import EMULATOR
from .recording import RecordedRequest
from .settings import (DEFAULT_USER_AGENT, DEMO_EMAIL, DEMO_ST, RECAPTCHA_SITE_KEY, EmulatorAccount,
                       EmulatorSettings, demo_account)

__all__ = [
    "DEFAULT_USER_AGENT",
    "DEMO_EMAIL",
    "DEMO_ST",
    "EMULATOR",
    "EmulatorAccount",
    "EmulatorSettings",
    "EmulatorURLs",
    "FaultInjector",
    "FaultRule",
    "FlowEmulator",
    "RECAPTCHA_SITE_KEY",
    "RecordedRequest",
    "create_app",
    "demo_account",
]
