"""The {api} surface (``{base}/v1...``, Google's aisandbox API): one catch-all route and its dispatch.

Colon-style Google RPC paths (``/v1:uploadUserImage``, ``/v1/video:batchAsync...``) are matched by
`operations.classify`, not by aiohttp's router, so every path in the spec is reached exactly as a
client concatenates it. Also owns the two small operations: ``credits`` (§2.2) and
``:checkAppAvailability`` (§2.18).
"""

from __future__ import annotations

import secrets
from typing import Awaitable, Callable

from aiohttp import web

from .api_common import context_of, emulator_of, json_body, require_account
from .api_images import batch_generate_images, upload_image, upload_user_image, upsample_image
from .api_videos import check_concatenation, check_video_status, run_concatenation, submit_video
from .errors import GoogleError, error_info
from .media import get_media
from .operations import VIDEO_SUBMIT_OPERATIONS
from .validation import Obj, enum, validate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CHECK_APP_AVAILABILITY = Obj(fields={"clientContext": Obj(fields={"tool": enum("PINHOLE", name="Tool")})})


async def credits(request: web.Request) -> web.Response:
    """``GET {api}/credits`` (§2.2) → ``{"credits": <int>, "userPaygateTier": "PAYGATE_TIER_*"}``."""
    account = require_account(request)
    return web.json_response({"credits": account.credits, "userPaygateTier": account.tier})


async def check_app_availability(request: web.Request) -> web.Response:
    """``POST {api}:checkAppAvailability`` (§2.18): anonymous, ``x-goog-api-key`` must be the web API key.
    Body ``{"clientContext": {"tool": "PINHOLE"}}`` → ``{"availabilityState": "AVAILABLE"}`` (invented)."""
    key = request.headers.get("x-goog-api-key")
    if not key:
        raise GoogleError(403, "The request is missing a valid API key.", detail="missing api key")
    if not secrets.compare_digest(key.encode(), emulator_of(request).settings.web_api_key.encode()):
        raise GoogleError(400, "API key not valid. Please pass a valid API key.",
                          details=[error_info("API_KEY_INVALID", domain="googleapis.com",
                                                     service="aisandbox-pa.googleapis.com")],
                          detail="bad api key")
    validate(await json_body(request), CHECK_APP_AVAILABILITY)
    return web.json_response({"availabilityState": "AVAILABLE"})


HANDLERS: dict[str, Handler] = {
    "credits": credits,
    "uploadImage": upload_image,
    "uploadUserImage": upload_user_image,
    "batchGenerateImages": batch_generate_images,
    "upsampleImage": upsample_image,
    **{op: submit_video for op in VIDEO_SUBMIT_OPERATIONS},
    "batchCheckAsyncVideoGenerationStatus": check_video_status,
    "getMedia": get_media,
    "checkAppAvailability": check_app_availability,
    "runVideoFxConcatenation": run_concatenation,
    "runVideoFxCheckConcatenationStatus": check_concatenation,
}


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Route ``{base}/v1...`` to its operation handler; 404 ``NOT_FOUND`` for unknown methods/paths."""
    ctx = context_of(request)
    handler = HANDLERS.get(ctx.operation)
    if handler is None or not ctx.method_ok:
        raise GoogleError(404, f"Method not found: {request.method} {request.path}", detail="no such method")
    return await handler(request)

