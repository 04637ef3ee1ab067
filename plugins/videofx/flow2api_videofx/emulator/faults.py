"""Fault injection: rules that make the emulator misbehave on purpose, and where they act.

A `FaultRule` matches requests by account e-mail and/or operation name (an `fnmatch` pattern,
e.g. ``batchAsyncGenerateVideo*``), fires at most ``count`` times (None = forever) with
``probability`` (decided by a seeded `random.Random`, so runs are reproducible). The matching and
firing are :mod:`flow2api_flowkit.emulator.faults`, shared with the flow.google.com emulator.

| kind | acts | effect |
|---|---|---|
| ``status`` | before the handler | answers ``status`` in the surface's error shape (Google envelope on {api}; 429 adds ``Retry-After`` + RetryInfo when ``retry_after`` is set) |
| ``latency`` | before the handler | sleeps ``latency_ms`` then handles normally |
| ``expire_at`` | before the handler | the matched account's current ATs expire (so this call already gets 401) |
| ``bad_shape`` | after the handler | a 2xx/3xx answer becomes 200 JSON without its key field(s) (``field``: comma-separated dotted paths) |
| ``captcha_fail`` | in generation calls | the token check fails (403 ``PUBLIC_ERROR_UNUSUAL_ACTIVITY``) |
| ``safety`` | in generation calls | 400 with ``reason`` (default ``PUBLIC_ERROR_UNSAFE_GENERATION``, invented) |
| ``video_fail`` | in video submits | the videos end in ``media_status`` (default FAILED) with ``{code, message}`` |
| ``slow_media`` | on the CDN | bytes are streamed at ``bytes_per_second`` |

Rules are added with `FaultInjector.add` or ``POST /_emulator/faults`` (same JSON).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, model_validator

from flow2api_flowkit.emulator.faults import FaultInjector as SharedInjector
from flow2api_flowkit.emulator.faults import MatchingRule

from .errors import CdnError, GoogleError, SolverError, TrpcError, error_info
from .keys import CONTEXT, EMULATOR

FaultKind = Literal["status", "latency", "expire_at", "captcha_fail", "video_fail", "safety", "slow_media",
                    "bad_shape"]


class FaultRule(MatchingRule):
    """One fault of this emulator (also the JSON of ``POST /_emulator/faults``)."""

    kind: FaultKind
    # kind parameters
    status: int | None = Field(None, ge=400, le=599)
    retry_after: float | None = Field(None, ge=0)
    message: str | None = None
    reason: str | None = None
    latency_ms: int = Field(0, ge=0)
    error_code: int = 13
    error_message: str = "Video generation failed due to an internal error."
    media_status: str = "MEDIA_GENERATION_STATUS_FAILED"
    bytes_per_second: int = Field(16_384, ge=1)
    field: str | None = None

    @model_validator(mode="after")
    def _check_parameters(self) -> "FaultRule":
        if self.kind == "status" and self.status is None:
            raise ValueError("kind 'status' needs 'status' (an HTTP status 400-599)")
        if self.kind == "latency" and self.latency_ms <= 0:
            raise ValueError("kind 'latency' needs 'latency_ms' > 0")
        if not self.media_status.startswith(("MEDIA_GENERATION_STATUS_FAILED", "MEDIA_GENERATION_STATUS_ERROR")):
            raise ValueError("media_status must be MEDIA_GENERATION_STATUS_FAILED or start with "
                             "MEDIA_GENERATION_STATUS_ERROR")
        return self


class FaultInjector(SharedInjector):
    """The active rules of this emulator (the shared injector with this emulator's :class:`FaultRule`)."""

    rule_model = FaultRule


def status_error(rule: FaultRule, surface: str, operation: str) -> Exception:
    """The error a ``status`` rule answers, in the shape of the request's surface."""
    assert rule.status is not None
    headers = {"Retry-After": str(int(rule.retry_after))} if rule.retry_after is not None else {}
    if surface == "trpc":
        return TrpcError(rule.status, rule.message or "Injected failure", operation, headers=headers)
    if surface == "solver":
        return SolverError(rule.reason or "ERROR_NO_SLOT_AVAILABLE", rule.message or "No idle workers are available",
                           http_status=rule.status if rule.status != 400 else 200)
    if surface in ("cdn", "labs", "other"):
        return CdnError(rule.status, rule.message or "That's an error.", headers=headers)
    details: list[dict[str, Any]] = []
    reason = rule.reason or ("RATE_LIMIT_EXCEEDED" if rule.status == 429 else None)
    if reason:
        details.append(error_info(reason))
    if rule.retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{int(rule.retry_after)}s"})
    return GoogleError(rule.status, rule.message, details=details or None, headers=headers, detail="fault-injected")


# Key fields removed by ``bad_shape`` (dotted paths), per operation; "" = replace the body with {}.
BAD_SHAPE_FIELDS: dict[str, tuple[str, ...]] = {
    "auth.session": ("access_token",),
    "project.createProject": ("result.data.json.result.projectId",),
    "credits": ("credits", "userPaygateTier"),
    "uploadImage": ("media",),
    "uploadUserImage": ("mediaGenerationId",),
    "batchGenerateImages": ("media",),
    "upsampleImage": ("encodedImage",),
    "batchCheckAsyncVideoGenerationStatus": ("media",),
    "getMedia": ("video", "image"),
    "runVideoFxConcatenation": ("operation",),
    "runVideoFxCheckConcatenationStatus": ("status", "outputUri", "encodedVideo"),
    "createTask": ("taskId",),
    "getTaskResult": ("solution",),
    **{op: ("media", "operations", "workflows") for op in (
        "batchAsyncGenerateVideoText", "batchAsyncGenerateVideoStartImage", "batchAsyncGenerateVideoStartAndEndImage",
        "batchAsyncGenerateVideoReferenceImages", "batchAsyncGenerateVideoExtendVideo",
        "batchAsyncGenerateVideoUpsampleVideo")},
}


def _drop(body: Any, dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        if not isinstance(body, dict):
            return
        body = body.get(part)
    if isinstance(body, dict):
        body.pop(leaf, None)


def mangle(response: web.StreamResponse, rule: FaultRule, operation: str) -> web.Response:
    """The ``bad_shape`` answer: 200 JSON of the real answer minus its key field(s)."""
    body: Any = {}
    if isinstance(response, web.Response) and response.content_type == "application/json" and response.text:
        body = json.loads(response.text)
    paths = tuple(p.strip() for p in rule.field.split(",")) if rule.field else BAD_SHAPE_FIELDS.get(operation, ())
    if not paths or not isinstance(body, dict):
        body = {}
    for path in paths:
        _drop(body, path)
    return web.json_response(body, status=200)


@web.middleware
async def fault_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Apply the faults that act around a handler: latency, expire_at, status, bad_shape."""
    ctx = request.get(CONTEXT)
    if ctx is None or ctx.surface == "control":
        return await handler(request)
    emulator = request.app[EMULATOR]
    faults = emulator.faults
    rule = faults.take("latency", ctx.operation, ctx.account)
    if rule is not None:
        await asyncio.sleep(rule.latency_ms / 1000)
    if ctx.account is not None:
        rule = faults.take("expire_at", ctx.operation, ctx.account)
        if rule is not None:
            emulator.world.expire_access_tokens(ctx.account, emulator.clock())
    rule = faults.take("status", ctx.operation, ctx.account)
    if rule is not None:
        raise status_error(rule, ctx.surface, ctx.operation)
    shape_rule = faults.take("bad_shape", ctx.operation, ctx.account)
    response = await handler(request)
    if shape_rule is not None and response.status < 400:
        return mangle(response, shape_rule, ctx.operation)
    return response
