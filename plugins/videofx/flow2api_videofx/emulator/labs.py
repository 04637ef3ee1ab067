"""The {labs} surface (``{base}/fx/api``): NextAuth session (ST → AT, §1.3/§2.1) and tRPC procedures.

tRPC conventions (§1.5): POST bodies ``{"json": {...}}``, GET ``?input=<json>``, results
``{"result": {"data": {"json": <payload>}}}``; errors are tRPC error envelopes (`errors.TrpcError`).
Every procedure needs the ST cookie (401 ``UNAUTHORIZED`` otherwise). Procedures served:

| procedure | kind | spec |
|---|---|---|
| ``project.createProject`` ``{"projectTitle", "toolName": "PINHOLE"}`` | mutation | §2.3 |
| ``project.deleteProject`` ``{"projectToDeleteId"}`` · ``media.deleteMedia`` ``{"names"}`` | mutation | §2.4 |
| ``media.getMediaUrlRedirect?name=&mediaUrlType=MEDIA_URL_TYPE_FULL_MEDIA`` → 302 | query | §2.16 |
| ``general.fetchUserPreferences`` · ``videoFx.getFlowAppConfig`` · ``videoFx.getUserSettings`` · ``flow.projectInitialData`` | query | §2.18 |
| ``general.submitBatchLog`` ``{"appEvents": [...]}`` · ``flow.createEntity`` ``{"projectId"}`` | mutation | §2.18, §2.19 |
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from aiohttp import web

from .api_common import context_of, emulator_of
from .errors import CdnError, TrpcError
from .recording import session_token
from .settings import EmulatorAccount
from .state import SUCCESSFUL, GeneratedImage, new_uuid
from .validation import UUID_RE

Payload = Any
Procedure = Callable[[web.Request, EmulatorAccount, Any], Awaitable[Payload]]


def iso_z(timestamp: float) -> str:
    """``2025-11-15T04:46:04.000Z`` (NextAuth's ``expires`` format)."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def auth_session(request: web.Request) -> web.Response:
    """``GET {labs}/auth/session`` → ``{"user": {"name", "email", "image"}, "expires", "access_token"}`` with a
    fresh AT valid until ``expires``; ``{}`` (200) for a missing or unknown ST (§1.3, §2.1)."""
    if not context_of(request).method_ok:
        raise CdnError(405, "Method not allowed.", headers={"Allow": "GET"})
    emulator = emulator_of(request)
    account = emulator.world.account_by_st(session_token(request))
    if account is None:
        return web.json_response({})
    expires_at = emulator.clock() + emulator.settings.at_lifetime_s
    token = emulator.world.issue_access_token(account.email, expires_at)
    return web.json_response({
        "user": {"name": account.name, "email": account.email,
                 "image": "https://lh3.googleusercontent.com/a/default-user=s96-c"},
        "expires": iso_z(expires_at),
        "access_token": token.value,
    })


def _field(value: Any, name: str, path: str, check: Callable[[Any], bool], expected: str) -> Any:
    item = value.get(name) if isinstance(value, dict) else None
    if item is None or not check(item):
        raise TrpcError(400, f"Invalid input at '{name}': expected {expected}, got {json.dumps(item)}", path)
    return item


def _owned_project_id(request: web.Request, account: EmulatorAccount, value: Any, name: str, path: str) -> str:
    project_id = _field(value, name, path, lambda v: isinstance(v, str) and bool(UUID_RE.match(v)), "a project UUID")
    project = emulator_of(request).world.projects.get(project_id)
    if project is None or project.deleted or project.email != account.email:
        raise TrpcError(404, f"Project {project_id} not found", path)
    return project_id


async def create_project(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    path = "project.createProject"
    title = _field(value, "projectTitle", path, lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
    _field(value, "toolName", path, lambda v: v == "PINHOLE", '"PINHOLE"')
    project = emulator_of(request).world.create_project(account.email, title, emulator_of(request).clock())
    return {"result": {"projectId": project.project_id, "projectInfo": {"projectTitle": title}},
            "status": 200, "statusText": "OK"}


async def delete_project(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    project_id = _owned_project_id(request, account, value, "projectToDeleteId", "project.deleteProject")
    emulator_of(request).world.projects[project_id].deleted = True
    return {"result": {}, "status": 200, "statusText": "OK"}


async def delete_media(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    path = "media.deleteMedia"
    names = _field(value, "names", path, lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
                   "a list of media names")
    world = emulator_of(request).world
    for name in names:
        record = world.images.get(name) or world.videos.get(name)
        if record is None or record.email != account.email:
            raise TrpcError(404, f"Media {name} not found", path)
    for name in names:
        world.images.pop(name, None)
        world.videos.pop(name, None)
    return {"result": {}, "status": 200, "statusText": "OK"}


async def media_url_redirect(request: web.Request, account: EmulatorAccount, value: Any) -> web.Response:
    """§2.16: 302 to the signed CDN URL of a finished video (``/cdn/video/<uuid>``) or generated image."""
    path = "media.getMediaUrlRedirect"
    name = request.query.get("name", "")
    if request.query.get("mediaUrlType") != "MEDIA_URL_TYPE_FULL_MEDIA":
        raise TrpcError(400, f"Invalid input at 'mediaUrlType': expected \"MEDIA_URL_TYPE_FULL_MEDIA\", got "
                             f"{json.dumps(request.query.get('mediaUrlType'))}", path)
    emulator = emulator_of(request)
    video = emulator.world.videos.get(name)
    image = emulator.world.images.get(name)
    if video is not None and video.email == account.email:
        if video.status != SUCCESSFUL:
            raise TrpcError(404, f"Media {name} has no URL yet ({video.status})", path)
        location = emulator.media_urls.url(request, "video", video.video_id)
    elif isinstance(image, GeneratedImage) and image.email == account.email:
        location = emulator.media_urls.url(request, "image", image.cdn_id)
    else:
        raise TrpcError(404, f"Media {name!r} not found", path)
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


async def user_preferences(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    return {"result": {"userPreferences": {"hasSeenOnboarding": True, "preferredLanguage": "en"}}}


async def flow_app_config(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    return {"result": {"appConfig": {"toolName": "PINHOLE", "paygateTier": account.tier,
                                     "maxImagesPerPrompt": 4, "maxReferenceImages": 3}}}


async def user_settings(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    return {"result": {"userSettings": {"email": account.email, "userPaygateTier": account.tier}}}


async def project_initial_data(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    project_id = _owned_project_id(request, account, value, "projectId", "flow.projectInitialData")
    project = emulator_of(request).world.projects[project_id]
    return {"result": {"projectId": project_id, "projectTitle": project.title}}


async def submit_batch_log(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    _field(value, "appEvents", "general.submitBatchLog",
           lambda v: isinstance(v, list) and all(isinstance(e, dict) and isinstance(e.get("event"), str) for e in v),
           'a list of {"event": ...} objects')
    return None


async def create_entity(request: web.Request, account: EmulatorAccount, value: Any) -> Payload:
    _owned_project_id(request, account, value, "projectId", "flow.createEntity")
    return {"result": {"entityId": new_uuid()}}


PROCEDURES: dict[str, tuple[str, Procedure]] = {
    "project.createProject": ("mutation", create_project),
    "project.deleteProject": ("mutation", delete_project),
    "media.deleteMedia": ("mutation", delete_media),
    "media.getMediaUrlRedirect": ("query", media_url_redirect),
    "general.fetchUserPreferences": ("query", user_preferences),
    "videoFx.getFlowAppConfig": ("query", flow_app_config),
    "videoFx.getUserSettings": ("query", user_settings),
    "flow.projectInitialData": ("query", project_initial_data),
    "general.submitBatchLog": ("mutation", submit_batch_log),
    "flow.createEntity": ("mutation", create_entity),
}


def _input(raw: str | bytes | None, path: str) -> Any:
    """The ``json`` member of a tRPC input (``{"json": ..., "meta"?: ...}``); None when absent."""
    if not raw:
        return None
    try:
        envelope = json.loads(raw)
    except ValueError as exc:
        raise TrpcError(400, f"Invalid tRPC input: {exc}", path) from None
    if not isinstance(envelope, dict) or "json" not in envelope:
        raise TrpcError(400, 'Invalid tRPC input: expected {"json": ...}', path)
    return envelope["json"]


async def trpc(request: web.Request) -> web.StreamResponse:
    """``{labs}/trpc/<procedure>``: method and ST checks, input decoding, result envelope."""
    path = context_of(request).operation
    method = "GET" if request.method == "HEAD" else request.method
    entry = PROCEDURES.get(path)
    if entry is None:
        kind = "query" if method == "GET" else "mutation"
        raise TrpcError(404, f'No "{kind}"-procedure on path "{path}"', path)
    kind, procedure = entry
    if (kind == "query") != (method == "GET"):
        raise TrpcError(405, f'Unsupported {method}-request to {kind} procedure at path "{path}"', path)
    account = emulator_of(request).world.account_by_st(session_token(request))
    if account is None:
        raise TrpcError(401, "UNAUTHORIZED", path)
    value = _input(request.query.get("input") if method == "GET" else await request.read(), path)
    payload = await procedure(request, account, value)
    if isinstance(payload, web.StreamResponse):
        return payload
    if payload is None:
        return web.json_response({"result": {"data": {"json": None, "meta": {"values": ["undefined"]}}}})
    return web.json_response({"result": {"data": {"json": payload}}})
