"""Video operations of {api}: submits (§2.8-§2.13, §2.15), batched status (§2.14, §3.1) and
concatenation (§2.20).

A submit creates one `state.Video` per request item and answers in the configured
``response_form``. Each status call naming a video advances it one step; after
``video_polls_to_finish`` calls it is SUCCESSFUL (or what a ``video_fail`` fault chose).
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from flow2api_flowkit.emulator.render import video_asset

from .api_common import charge, check_recaptcha, check_safety, check_tier, context_of, emulator_of, json_body, \
    owned_image, owned_project, require_account
from .catalog import VIDEO_ASPECT_RATIOS, VIDEO_RESOLUTIONS, is_portrait, key_requires_tier_two, video_cost
from .errors import GoogleError, error_info, invalid_argument, not_found
from .operations import VIDEO_SUBMIT_OPERATIONS
from .settings import EmulatorAccount
from .state import PENDING, SUCCESSFUL, Concatenation, Video, new_media_name, new_operation_name, new_uuid
from .validation import DURATION_RE, STRUCTURED_PROMPT, UUID_RE, Arr, Bool, Int, Obj, Spec, Str, client_context, \
    enum, prompt_text, uuid_str, validate

_MEDIA_ID = Obj(fields={"mediaId": Str()})


def _request_schema(operation: str) -> Obj:
    """The ``requests[]`` item of one submit operation (spec §2.8 REQ base + that operation's fields)."""
    fields: dict[str, Spec] = {
        "aspectRatio": enum(*VIDEO_ASPECT_RATIOS, name="VideoAspectRatio"),
        "seed": Int(minimum=1, maximum=99_999),
        "textInput": Obj(fields={"structuredPrompt": STRUCTURED_PROMPT}),
        "videoModelKey": Str(),
        "metadata": Obj(fields={"sceneId": uuid_str(required=False), "workflowId": uuid_str(required=False)}),
    }
    kind = operation.removeprefix("batchAsyncGenerateVideo")
    if kind in ("StartImage", "StartAndEndImage"):
        fields["startImage"] = _MEDIA_ID
    if kind == "StartAndEndImage":
        fields["endImage"] = _MEDIA_ID
    if kind == "ReferenceImages":
        fields["referenceImages"] = Arr(min_items=1, max_items=3, item=Obj(fields={
            "imageUsageType": enum("IMAGE_USAGE_TYPE_ASSET", name="ImageUsageType"), "mediaId": Str()}))
    if kind in ("ExtendVideo", "UpsampleVideo"):
        fields["videoInput"] = _MEDIA_ID
    if kind == "ExtendVideo":
        fields["metadata"] = Obj(fields={"workflowId": uuid_str(), "sceneId": uuid_str(required=False)})
    if kind == "UpsampleVideo":
        fields["resolution"] = enum(*VIDEO_RESOLUTIONS, name="VideoResolution")
        fields["textInput"] = Obj(required=False, fields={"structuredPrompt": STRUCTURED_PROMPT})
        fields["metadata"] = Obj(fields={"sceneId": uuid_str(), "workflowId": uuid_str(required=False)})
    foreign = tuple(name for name in ("startImage", "endImage", "referenceImages", "videoInput", "resolution")
                    if name not in fields)
    return Obj(fields=fields, not_here=foreign, not_here_hint=operation)


SUBMIT_SCHEMAS = {op: Obj(fields={
    "mediaGenerationContext": Obj(fields={
        "batchId": uuid_str(),
        "audioFailurePreference": enum("BLOCK_SILENCED_VIDEOS", name="AudioFailurePreference"),
    }),
    "clientContext": client_context(project=True, tier=True),
    "requests": Arr(min_items=1, max_items=4, item=_request_schema(op)),
    "useV2ModelConfig": Bool(const=True),
}) for op in VIDEO_SUBMIT_OPERATIONS}

STATUS = Obj(fields={"media": Arr(min_items=1, max_items=100, item=Obj(fields={"name": Str(), "projectId": uuid_str()}))})
CONCATENATE = Obj(fields={"inputVideos": Arr(min_items=2, max_items=10, item=Obj(fields={
    "mediaGenerationId": Str(),
    "lengthNanos": Int(minimum=1),
    "startTimeOffset": Str(pattern=DURATION_RE, pattern_hint='a duration such as "0s"'),
    "endTimeOffset": Str(pattern=DURATION_RE, pattern_hint='a duration such as "8s"'),
}))})
CONCATENATION_STATUS = Obj(fields={"operation": Obj(fields={"operation": Obj(fields={"name": Str()})})})


def _source_video(request: web.Request, account: EmulatorAccount, video_id: str, field: str) -> Video:
    """A finished video of ``account`` named by its UUID (spec §3.3), or 400/404 naming ``field``."""
    world = emulator_of(request).world
    if not UUID_RE.match(video_id):
        hint = " (that is a media name; use the UUID from the media URL path /video/<uuid>, spec §3.3)" \
            if video_id in world.videos else ""
        raise invalid_argument(field, f"Invalid value at '{field}', \"{video_id}\": expected a video id (UUID){hint}")
    video = world.videos_by_id.get(video_id)
    if video is None or video.email != account.email:
        raise not_found(f"video {video_id}", field)
    if video.status != SUCCESSFUL:
        raise invalid_argument(field, f"Invalid value at '{field}': video {video_id} is {video.status}, not "
                                      "SUCCESSFUL")
    return video


def _check_item(request: web.Request, account: EmulatorAccount, operation: str, item: dict[str, Any], index: int,
                project_id: str) -> Video | None:
    """Semantic checks of one request item; returns the source video of extend/upsample."""
    prefix = f"requests[{index}]"
    key = item["videoModelKey"]
    problem = emulator_of(request).video_models.problem(key, operation)
    if problem:
        raise invalid_argument(f"{prefix}.videoModelKey", f"Invalid value at '{prefix}.videoModelKey': {problem}")
    if key_requires_tier_two(key) and account.tier != "PAYGATE_TIER_TWO":
        raise GoogleError(403, f"The model {key} is not available for your plan ({account.tier}).",
                          details=[error_info("PUBLIC_ERROR_MODEL_ACCESS_DENIED")], detail="tier")
    for name in ("startImage", "endImage"):
        if name in item:
            owned_image(request, account, item[name]["mediaId"], f"{prefix}.{name}.mediaId", project_id)
    for ref_index, ref in enumerate(item.get("referenceImages", [])):
        owned_image(request, account, ref["mediaId"], f"{prefix}.referenceImages[{ref_index}].mediaId", project_id)
    if "videoInput" not in item:
        return None
    source = _source_video(request, account, item["videoInput"]["mediaId"], f"{prefix}.videoInput.mediaId")
    if item["aspectRatio"] != source.aspect_ratio:
        raise invalid_argument(f"{prefix}.aspectRatio", f"Invalid value at '{prefix}.aspectRatio', "
                                                        f"\"{item['aspectRatio']}\": the source video is "
                                                        f"{source.aspect_ratio}")
    if operation.endswith("UpsampleVideo") and VIDEO_RESOLUTIONS[item["resolution"]] != key:
        raise invalid_argument(f"{prefix}.resolution", f"Invalid value at '{prefix}.resolution', "
                                                       f"\"{item['resolution']}\": does not match videoModelKey {key}")
    if operation.endswith("ExtendVideo") and not key.endswith(source.aspect_ratio.rsplit("_", 1)[1].lower()):
        raise invalid_argument(f"{prefix}.videoModelKey", f"Invalid value at '{prefix}.videoModelKey', \"{key}\": "
                                                          f"the source video is {source.aspect_ratio}")
    return source


async def submit_video(request: web.Request) -> web.Response:
    """``POST {api}/video:batchAsyncGenerateVideo<Kind>`` (§2.8-§2.13, §2.15) → the §2.8 create response."""
    account = require_account(request)
    emulator = emulator_of(request)
    operation = context_of(request).operation
    body = validate(await json_body(request), SUBMIT_SCHEMAS[operation])
    cc = body["clientContext"]
    project = owned_project(request, account, cc["projectId"], "clientContext.projectId")
    check_tier(account, cc)
    sources = [_check_item(request, account, operation, item, index, project.project_id)
               for index, item in enumerate(body["requests"])]
    check_recaptcha(request, account, cc, action="VIDEO_GENERATION", project_id=project.project_id)
    check_safety(request, account)
    charge(account, sum(video_cost(item["videoModelKey"]) for item in body["requests"]))
    fail_rule = emulator.faults.take("video_fail", operation, account.email)
    failure = (fail_rule.media_status, fail_rule.error_code, fail_rule.error_message) if fail_rule else None
    videos = []
    for item, source in zip(body["requests"], sources):
        text_input = item.get("textInput")
        video = Video(
            name=new_media_name("video"), video_id=new_uuid(), email=account.email, project_id=project.project_id,
            operation=operation, model_key=item["videoModelKey"], aspect_ratio=item["aspectRatio"],
            seed=item["seed"], prompt=prompt_text(text_input["structuredPrompt"]) if text_input else "",
            operation_name=new_operation_name(), workflow_id=item["metadata"].get("workflowId") or new_uuid(),
            scene_id=item["metadata"].get("sceneId") or new_uuid(),
            batch_id=body["mediaGenerationContext"]["batchId"],
            polls_to_finish=emulator.settings.video_polls_to_finish, created_at=emulator.clock(), failure=failure,
            source_video_id=source.video_id if source else None, resolution=item.get("resolution"))
        emulator.world.add_video(video)
        videos.append(video)
    if emulator.settings.response_form == "operations":
        return web.json_response({"operations": [
            {"operation": {"name": v.name}, "sceneId": v.scene_id, "status": PENDING} for v in videos
        ], "remainingCredits": account.credits})
    return web.json_response({
        "remainingCredits": account.credits,
        "workflows": [{"name": v.workflow_id, "projectId": v.project_id, "metadata": {"primaryMediaId": v.name}}
                      for v in videos],
        "media": [{"name": v.name, "projectId": v.project_id,
                   "mediaMetadata": {"mediaStatus": {"mediaGenerationStatus": PENDING}},
                   "video": {"operation": {"name": v.operation_name}}} for v in videos],
    })


def _status_item(video: Video) -> dict[str, Any]:
    status = video.status
    media_status: dict[str, Any] = {"mediaGenerationStatus": status}
    if video.failure is not None and status == video.failure[0]:
        media_status["error"] = {"code": video.failure[1], "message": video.failure[2]}
    metadata: dict[str, Any] = {
        "mediaStatus": media_status,
        "requestData": {"videoGenerationRequestData": {"videoModelControlInput": {
            "videoModelName": video.model_key, "videoAspectRatio": video.aspect_ratio}}},
    }
    if status == SUCCESSFUL:
        metadata["mediaBlobSize"] = str(len(video_asset(is_portrait(video.aspect_ratio))))
    return {"name": video.name, "projectId": video.project_id, "mediaMetadata": metadata,
            "video": {"generatedVideo": {"aspectRatio": video.aspect_ratio, "model": video.model_key,
                                         "seed": video.seed, "prompt": video.prompt},
                      "operation": {"name": video.operation_name}}}


async def check_video_status(request: web.Request) -> web.Response:
    """``POST {api}/video:batchCheckAsyncVideoGenerationStatus`` ``{"media": [{"name", "projectId"}, ...]}``
    (§2.14) → ``{"media": [<status item>, ...]}`` in request order. Each call advances every named video once.
    404 NOT_FOUND naming the project when one of the named projects is gone, naming the media when it is unknown."""
    account = require_account(request)
    world = emulator_of(request).world
    body = validate(await json_body(request), STATUS)
    videos = []
    for index, entry in enumerate(body["media"]):
        # The project a media is polled in is resolved first, as for every call that names one: a project that
        # vanished (deleted, or forgotten by a restart) answers NOT_FOUND for the whole batch.
        owned_project(request, account, entry["projectId"], f"media[{index}].projectId")
        video = world.videos.get(entry["name"])
        if video is None or video.email != account.email:
            raise not_found(f"media {entry['name']}", f"media[{index}].name")
        if video.project_id != entry["projectId"]:
            raise invalid_argument(f"media[{index}].projectId", f"Invalid value at 'media[{index}].projectId', "
                                                                f"\"{entry['projectId']}\": media {video.name} is in "
                                                                f"project {video.project_id}")
        videos.append(video)
    for video in {id(v): v for v in videos}.values():
        video.polls += 1
    return web.json_response({"media": [_status_item(video) for video in videos]})


async def run_concatenation(request: web.Request) -> web.Response:
    """``POST {api}:runVideoFxConcatenation`` (§2.20) → ``{"operation": {"operation": {"name"}}}``.
    Every ``inputVideos[].mediaGenerationId`` must be a finished video UUID of the account."""
    account = require_account(request)
    emulator = emulator_of(request)
    body = validate(await json_body(request), CONCATENATE)
    sources = []
    for index, item in enumerate(body["inputVideos"]):
        sources.append(_source_video(request, account, item["mediaGenerationId"],
                                     f"inputVideos[{index}].mediaGenerationId"))
        if float(item["startTimeOffset"][:-1]) >= float(item["endTimeOffset"][:-1]):
            field = f"inputVideos[{index}].endTimeOffset"
            raise invalid_argument(field, f"Invalid value at '{field}': must be after startTimeOffset")
    concat = Concatenation(new_operation_name(), account.email, [v.video_id for v in sources],
                           sources[0].aspect_ratio, new_uuid(), emulator.settings.video_polls_to_finish,
                           emulator.clock())
    emulator.world.add_concatenation(concat)
    return web.json_response({"operation": {"operation": {"name": concat.operation_name}}})


async def check_concatenation(request: web.Request) -> web.Response:
    """``POST {api}:runVideoFxCheckConcatenationStatus`` (§2.20) → ``{"status": ...ACTIVE}`` until
    finished, then ``{"status": "MEDIA_GENERATION_STATUS_SUCCESSFUL", "outputUri", "encodedVideo"}``."""
    account = require_account(request)
    emulator = emulator_of(request)
    body = validate(await json_body(request), CONCATENATION_STATUS)
    name = body["operation"]["operation"]["name"]
    concat = emulator.world.concatenations.get(name)
    if concat is None or concat.email != account.email:
        raise not_found(f"operation {name}", "operation.operation.name")
    concat.polls += 1
    if concat.polls < concat.polls_to_finish:
        return web.json_response({"status": "MEDIA_GENERATION_STATUS_ACTIVE"})
    return web.json_response({
        "status": SUCCESSFUL,
        "outputUri": emulator.media_urls.url(request, "video", concat.video_id),
        "encodedVideo": base64.b64encode(video_asset(is_portrait(concat.aspect_ratio))).decode("ascii"),
    })
