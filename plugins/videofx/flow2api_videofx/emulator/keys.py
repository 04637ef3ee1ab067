"""Typed keys: the emulator on its application, the per-request context on each request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

if TYPE_CHECKING:  # pragma: no cover
    from .app import FlowEmulator
    from .recording import RequestContext

#: The `FlowEmulator` an application serves (set by `FlowEmulator.app()` / `create_app`).
EMULATOR: Final[web.AppKey[FlowEmulator]] = web.AppKey["FlowEmulator"]("flow2api_videofx.emulator.EMULATOR")
#: Operation, surface, account and recorded entry of the current request (set by `recording_middleware`).
CONTEXT: Final[web.RequestKey[RequestContext]] = web.RequestKey["RequestContext"]("flow2api_videofx.emulator.CONTEXT")
