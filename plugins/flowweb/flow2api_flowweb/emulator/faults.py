"""Fault injection for the flow.google.com emulator: rules that make it misbehave on purpose.

A :class:`FaultRule` matches by account e-mail and/or operation (an ``fnmatch`` pattern over
rpc ids such as ``ogiZ0b`` and the names ``page``, ``reload``, ``content``, ``createTask``,
``getTaskResult``, ``SetOSID``), fires at most ``count`` times (None = forever) with
``probability`` (a seeded ``random.Random``, so runs repeat); the matching and firing are
:mod:`flow2api_flowkit.emulator.faults`, shared with the labs.google emulator.

| kind | effect |
|---|---|
| ``status`` | answer HTTP ``status`` before handling (429 adds ``Retry-After`` when ``retry_after`` is set) |
| ``rpc_error`` | the RPC answers a ``wrb.fr`` error ``[code, null, details]`` (``code``, ``reason``, ``aitk``) |
| ``latency`` | sleep ``latency_ms`` then handle normally |
| ``expire_cookies`` | the account's cookies stop working (this request already gets 401 / a redirect to /about) |
| ``expire_xsrf`` | the account's ``at`` is rotated: this request gets the HTTP 400 XSRF challenge |
| ``captcha_fail`` | the reCAPTCHA check of a generation RPC fails (unusual activity), token consumed |
| ``safety`` | a generation RPC answers code 7 with ``reason`` (default ``PUBLIC_ERROR_UNSAFE_GENERATION``) |
| ``video_fail`` | the videos of the next submit end in ``media_status`` (7) with ``message`` |
| ``slow_media`` | content bytes are streamed at ``bytes_per_second`` |
| ``bad_shape`` | the RPC payload becomes ``[]`` (or the slot at ``path`` is nulled) |
| ``project_gone`` | the project the RPC's client context names is forgotten first (NOT_FOUND ``[5]``, its page 404s) |
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from flow2api_flowkit.emulator.faults import FaultInjector as SharedInjector
from flow2api_flowkit.emulator.faults import MatchingRule


FaultKind = Literal["status", "rpc_error", "latency", "expire_cookies", "expire_xsrf", "captcha_fail", "safety",
                    "video_fail", "slow_media", "bad_shape", "project_gone"]


class FaultRule(MatchingRule):
    """One fault rule (also the JSON of ``POST /_emulator/faults``)."""

    kind: FaultKind
    status: int | None = Field(None, ge=400, le=599)
    retry_after: int | None = Field(None, ge=0)
    code: int = 8
    reason: str | None = None
    aitk: int | None = None
    latency_ms: int = Field(0, ge=0)
    media_status: int = 7
    message: str = "Video generation failed."
    bytes_per_second: int = Field(16_384, ge=1)
    path: list[int] | None = None

    @model_validator(mode="after")
    def _parameters(self) -> FaultRule:
        if self.kind == "status" and self.status is None:
            raise ValueError("kind 'status' needs 'status' (an HTTP status 400-599)")
        if self.kind == "latency" and self.latency_ms <= 0:
            raise ValueError("kind 'latency' needs 'latency_ms' > 0")
        return self


class FaultInjector(SharedInjector):
    """The active rules of this emulator (the shared injector with this emulator's :class:`FaultRule`)."""

    rule_model = FaultRule


def mangle(payload: Any, rule: FaultRule) -> Any:
    """The ``bad_shape`` payload: ``[]``, or ``payload`` with the slot at ``rule.path`` set to null."""
    if not rule.path:
        return []
    target = payload
    for index in rule.path[:-1]:
        if not isinstance(target, list) or not -len(target) <= index < len(target):
            return payload
        target = target[index]
    if isinstance(target, list) and -len(target) <= rule.path[-1] < len(target):
        target[rule.path[-1]] = None
    return payload
