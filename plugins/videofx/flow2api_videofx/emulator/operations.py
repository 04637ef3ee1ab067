"""Which operation a request is: one table from (method, path) to a surface and an operation name.

The names are what `FlowEmulator.calls()`, recorded requests and fault rules use:

| path | operation |
|---|---|
| ``/fx/api/auth/session`` | ``auth.session`` |
| ``/fx/api/trpc/<procedure>`` | the procedure, e.g. ``project.createProject`` |
| ``/v1/credits`` | ``credits`` |
| ``/v1/flow/uploadImage`` · ``/v1:uploadUserImage`` | ``uploadImage`` · ``uploadUserImage`` |
| ``/v1/projects/<pid>/flowMedia:batchGenerateImages`` | ``batchGenerateImages`` |
| ``/v1/flow/upsampleImage`` | ``upsampleImage`` |
| ``/v1/video:batchAsyncGenerateVideo<Kind>`` | ``batchAsyncGenerateVideo<Kind>`` |
| ``/v1/video:batchCheckAsyncVideoGenerationStatus`` | ``batchCheckAsyncVideoGenerationStatus`` |
| ``/v1/media/<name>`` | ``getMedia`` |
| ``/v1:checkAppAvailability`` · ``/v1:runVideoFxConcatenation`` · ``/v1:runVideoFxCheckConcatenationStatus`` | same names |
| ``/cdn/image/<id>`` · ``/cdn/video/<uuid>`` | ``cdn.image`` · ``cdn.video`` |
| ``/solver/createTask`` · ``/solver/getTaskResult`` | ``createTask`` · ``getTaskResult`` |
| anything else under ``/v1`` | ``unknown`` (404) |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Surface = Literal["labs", "trpc", "api", "cdn", "solver", "control", "other"]

VIDEO_SUBMIT_OPERATIONS: Final = tuple(
    "batchAsyncGenerateVideo" + kind
    for kind in ("Text", "StartImage", "StartAndEndImage", "ReferenceImages", "ExtendVideo", "UpsampleVideo")
)
#: Operations that need a reCAPTCHA token (spec §1.6 "needed by").
GENERATION_OPERATIONS: Final = frozenset({"batchGenerateImages", "upsampleImage", *VIDEO_SUBMIT_OPERATIONS})

# (method, path regex, operation); the first group, if any, is the path parameter.
API_ROUTES: Final = (
    ("GET", re.compile(r"^/v1/credits$"), "credits"),
    ("POST", re.compile(r"^/v1/flow/uploadImage$"), "uploadImage"),
    ("POST", re.compile(r"^/v1:uploadUserImage$"), "uploadUserImage"),
    ("POST", re.compile(r"^/v1/projects/([^/]+)/flowMedia:batchGenerateImages$"), "batchGenerateImages"),
    ("POST", re.compile(r"^/v1/flow/upsampleImage$"), "upsampleImage"),
    *(("POST", re.compile(rf"^/v1/video:{op}$"), op) for op in VIDEO_SUBMIT_OPERATIONS),
    ("POST", re.compile(r"^/v1/video:batchCheckAsyncVideoGenerationStatus$"), "batchCheckAsyncVideoGenerationStatus"),
    ("GET", re.compile(r"^/v1/media/([^/]+)$"), "getMedia"),
    ("POST", re.compile(r"^/v1:checkAppAvailability$"), "checkAppAvailability"),
    ("POST", re.compile(r"^/v1:runVideoFxConcatenation$"), "runVideoFxConcatenation"),
    ("POST", re.compile(r"^/v1:runVideoFxCheckConcatenationStatus$"), "runVideoFxCheckConcatenationStatus"),
)


@dataclass(frozen=True)
class Operation:
    """A classified request: ``surface``, operation ``name``, path ``param`` (project id, media name, ...)
    and whether the HTTP method fits (``method_ok``)."""

    surface: Surface
    name: str
    param: str | None = None
    method_ok: bool = True


def classify(method: str, path: str) -> Operation:
    """Map a request line to its `Operation` (see the module table)."""
    if method == "HEAD":
        method = "GET"
    if path.startswith("/_emulator"):
        return Operation("control", path.removeprefix("/_emulator").strip("/") or "index")
    if path == "/fx/api/auth/session":
        return Operation("labs", "auth.session", method_ok=method == "GET")
    if path.startswith("/fx/api/trpc/"):
        return Operation("trpc", path.removeprefix("/fx/api/trpc/"))
    if path == "/v1" or path.startswith(("/v1/", "/v1:")):
        for route_method, pattern, name in API_ROUTES:
            match = pattern.match(path)
            if match:
                return Operation("api", name, match.group(1) if match.groups() else None, method == route_method)
        return Operation("api", "unknown")
    for kind in ("image", "video"):
        prefix = f"/cdn/{kind}/"
        if path.startswith(prefix) and "/" not in path.removeprefix(prefix):
            return Operation("cdn", f"cdn.{kind}", path.removeprefix(prefix), method == "GET")
    if path in ("/solver/createTask", "/solver/getTaskResult"):
        return Operation("solver", path.removeprefix("/solver/"), method_ok=method == "POST")
    return Operation("other", "unknown")
