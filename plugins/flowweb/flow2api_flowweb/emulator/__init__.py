"""A strict fake of Google Flow on flow.google.com: pages, batchexecute RPCs, reCAPTCHA stand-in, content host.

Tests, ``flow2api demo`` and the browser-extension tests point the flowweb plugin at it
(wire protocol: ``flow-google-batchexecute.md``; behaviour and invented details:
``plugins/flowweb/EMULATOR.md``)::

    emulator = FlowWebEmulator(EmulatorSettings(video_polls_to_finish=2))
    account = emulator.add_account("alice@example.com", tier=2)      # account.cookies_txt()
    server = await aiohttp_server(emulator.app())
    sections = emulator.sections(str(server.make_url("")))           # [flowweb] + [flowweb_captcha]
    assert emulator.calls("ogiZ0b")[0].args[1][0][5] == "NARWHAL"

Standalone: ``python -m flow2api_flowweb.emulator --port 8766 [--demo-account]``.
"""

from .app import EMULATOR, FlowWebEmulator, RecordedCall, serve
from .faults import FaultInjector, FaultRule
from .settings import BUILD_LABEL, SITE_KEY, EmulatorSettings
from .state import EmulatorAccount

__all__ = [
    "BUILD_LABEL",
    "EMULATOR",
    "EmulatorAccount",
    "EmulatorSettings",
    "FaultInjector",
    "FaultRule",
    "FlowWebEmulator",
    "RecordedCall",
    "SITE_KEY",
    "serve",
]
