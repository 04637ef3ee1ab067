"""Image operations of {api}: uploads (§2.5), batchGenerateImages (§2.6), upsampleImage (§2.7)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from flow2api_flowkit.emulator.render import fit_long_edge, inspect_upload, mean_color, render_jpeg, sniff_mime

from .api_common import charge, check_recaptcha, check_safety, check_tier, context_of, emulator_of, json_body, \
    owned_image, owned_project, require_account
from .catalog import IMAGE_ASPECT_RATIOS, IMAGE_COST, IMAGE_MODELS, IMAGE_UPSAMPLE, UPLOAD_MIME_TYPES
from .errors import invalid_argument, recaptcha_failed
from .state import GeneratedImage, UploadedImage, new_media_name, new_uuid
from .validation import STRUCTURED_PROMPT, Arr, Bool, Int, Obj, Str, client_context, enum, prompt_text, uuid_str, \
    validate

MIME = enum(*UPLOAD_MIME_TYPES, name="MimeType")
IMAGE_ASPECT = enum(*IMAGE_ASPECT_RATIOS, name="ImageAspectRatio")

UPLOAD_IMAGE = Obj(fields={
    "clientContext": client_context(project=True),
    "fileName": Str(),
    "imageBytes": Str(),
    "isHidden": Bool(required=False),
    "isUserUploaded": Bool(required=False),
    "mimeType": MIME,
})
UPLOAD_USER_IMAGE = Obj(fields={
    "imageInput": Obj(fields={
        "rawImageBytes": Str(),
        "mimeType": MIME,
        "isUserUploaded": Bool(required=False),
        "aspectRatio": IMAGE_ASPECT,
    }),
    "clientContext": client_context(tool="ASSET_MANAGER", project=None),
})
_IMAGE_CC = client_context(project=True)
GENERATE_IMAGES = Obj(fields={
    "clientContext": _IMAGE_CC,
    "mediaGenerationContext": Obj(fields={"batchId": uuid_str()}),
    "useNewMedia": Bool(const=True),
    "requests": Arr(min_items=1, max_items=4, item=Obj(fields={
        "clientContext": _IMAGE_CC,
        "seed": Int(minimum=1, maximum=999_999),
        "imageModelName": enum(*IMAGE_MODELS, name="ImageModelName"),
        "imageAspectRatio": IMAGE_ASPECT,
        "structuredPrompt": STRUCTURED_PROMPT,
        "imageInputs": Arr(item=Obj(fields={
            "name": Str(),
            "imageInputType": enum("IMAGE_INPUT_TYPE_REFERENCE", name="ImageInputType"),
        })),
    })),
})
UPSAMPLE_IMAGE = Obj(fields={
    "mediaId": Str(),
    "targetResolution": enum(*IMAGE_UPSAMPLE, name="UpsampleImageResolution"),
    "clientContext": client_context(project=True, tier=True),
})


def _decode_upload(data: str, mime_type: str, field: str, mime_field: str) -> tuple[bytes, int, int, tuple[int, int, int]]:
    """base64 → bytes whose magic bytes match ``mimeType`` and which decode as an image."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        try:
            raw = base64.urlsafe_b64decode(data) if "-" in data or "_" in data else b""
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise invalid_argument(field, f"Invalid value at '{field}' (TYPE_BYTES): not valid base64 "
                                          "(send the bytes without a data: prefix)") from None
    sniffed = sniff_mime(raw)
    if sniffed is None:
        raise invalid_argument(field, f"Invalid value at '{field}': the bytes are not a supported image format")
    if sniffed != mime_type:
        raise invalid_argument(mime_field, f"Invalid value at '{mime_field}', \"{mime_type}\": the image bytes are "
                                           f"{sniffed}")
    try:
        width, height, color = inspect_upload(raw, mime_type)
    except ValueError as exc:
        raise invalid_argument(field, f"Invalid value at '{field}': {exc}") from None
    return raw, width, height, color


async def upload_image(request: web.Request) -> web.Response:
    """``POST {api}/flow/uploadImage`` (§2.5 HEAD) → ``{"media": {"name", "projectId"}}`` (or a one-item
    list, setting ``upload_response_form``). The name is the mediaId for generation requests."""
    account = require_account(request)
    body = validate(await json_body(request), UPLOAD_IMAGE)
    project = owned_project(request, account, body["clientContext"]["projectId"], "clientContext.projectId")
    raw, width, height, color = _decode_upload(body["imageBytes"], body["mimeType"], "imageBytes", "mimeType")
    emulator = emulator_of(request)
    image = UploadedImage(new_media_name("upload"), account.email, project.project_id, body["mimeType"],
                          width, height, color, len(raw), emulator.clock())
    emulator.world.add_image(image)
    media = {"name": image.name, "projectId": project.project_id}
    if emulator.settings.upload_response_form == "list":
        return web.json_response({"media": [media]})
    return web.json_response({"media": media})


async def upload_user_image(request: web.Request) -> web.Response:
    """``POST {api}:uploadUserImage`` (§2.5 legacy) → ``{"mediaGenerationId": {"mediaGenerationId"}, "width",
    "height"}``; the media has no project and is usable in any of the account's projects."""
    account = require_account(request)
    body = validate(await json_body(request), UPLOAD_USER_IMAGE)
    image_input = body["imageInput"]
    raw, width, height, color = _decode_upload(image_input["rawImageBytes"], image_input["mimeType"],
                                               "imageInput.rawImageBytes", "imageInput.mimeType")
    emulator = emulator_of(request)
    image = UploadedImage(new_media_name("upload"), account.email, None, image_input["mimeType"],
                          width, height, color, len(raw), emulator.clock())
    emulator.world.add_image(image)
    return web.json_response({"mediaGenerationId": {"mediaGenerationId": image.name}, "width": width,
                              "height": height})


def _check_request_contexts(body: dict[str, Any]) -> None:
    """Each request's clientContext must be the top one (spec §2.6: "the same object appears twice")."""
    top = body["clientContext"]
    for index, item in enumerate(body["requests"]):
        cc = item["clientContext"]
        for key in sorted(set(top) | set(cc)):
            if key == "recaptchaContext":
                continue
            if top.get(key) != cc.get(key):
                field = f"requests[{index}].clientContext.{key}"
                raise invalid_argument(field, f"Invalid value at '{field}': must equal clientContext.{key} "
                                              f"({top.get(key)!r})")


async def batch_generate_images(request: web.Request) -> web.Response:
    """``POST {api}/projects/<pid>/flowMedia:batchGenerateImages`` (§2.6) → ``{"media": [{"name", "projectId",
    "image": {"generatedImage": {"fifeUrl", "seed", "prompt", "modelNameType", "aspectRatio"},
    "dimensions": {"width", "height"}}}]}``, one item per request item."""
    account = require_account(request)
    emulator = emulator_of(request)
    body = validate(await json_body(request), GENERATE_IMAGES)
    cc = body["clientContext"]
    project_in_path = context_of(request).param or ""
    if cc["projectId"] != project_in_path:
        raise invalid_argument("clientContext.projectId", f"Invalid value at 'clientContext.projectId', "
                                                          f"\"{cc['projectId']}\": the URL names project {project_in_path}")
    _check_request_contexts(body)
    project = owned_project(request, account, project_in_path, "clientContext.projectId")
    check_tier(account, cc)
    tints = []
    for index, item in enumerate(body["requests"]):
        colors = [owned_image(request, account, ref["name"], f"requests[{index}].imageInputs[{ref_index}].name",
                              project.project_id).color
                  for ref_index, ref in enumerate(item["imageInputs"])]
        tints.append(mean_color(colors))
    top_recaptcha = cc.get("recaptchaContext")
    if any(item["clientContext"].get("recaptchaContext") != top_recaptcha for item in body["requests"]):
        raise recaptcha_failed("per-request recaptchaContext differs from the top clientContext")
    check_recaptcha(request, account, cc, action="IMAGE_GENERATION", project_id=project.project_id)
    check_safety(request, account)
    charge(account, IMAGE_COST * len(body["requests"]))
    media = []
    for item, tint in zip(body["requests"], tints):
        width, height = fit_long_edge(IMAGE_ASPECT_RATIOS[item["imageAspectRatio"]], emulator.settings.image_size)
        image = GeneratedImage(
            name=new_media_name("image"), email=account.email, project_id=project.project_id,
            session_id=cc["sessionId"], prompt=prompt_text(item["structuredPrompt"]), seed=item["seed"],
            model=item["imageModelName"], aspect_ratio=item["imageAspectRatio"], width=width, height=height,
            tint=tint, cdn_id=new_uuid().replace("-", ""), created_at=emulator.clock(),
            color=tint or (128, 128, 128))
        emulator.world.add_image(image)
        media.append({"name": image.name, "projectId": project.project_id, "image": {
            "generatedImage": {"fifeUrl": emulator.media_urls.url(request, "image", image.cdn_id),
                               "seed": image.seed, "prompt": image.prompt, "modelNameType": image.model,
                               "aspectRatio": image.aspect_ratio},
            "dimensions": {"width": width, "height": height}}})
    return web.json_response({"media": media})


async def upsample_image(request: web.Request) -> web.Response:
    """``POST {api}/flow/upsampleImage`` (§2.7) → ``{"encodedImage": "<base64 JPEG>"}`` at 2x (2K) or 4x (4K)
    the 1K long edge, capped at 2048 / 3072 px. Needs the generation's media name, project and sessionId."""
    account = require_account(request)
    emulator = emulator_of(request)
    body = validate(await json_body(request), UPSAMPLE_IMAGE)
    cc = body["clientContext"]
    project = owned_project(request, account, cc["projectId"], "clientContext.projectId")
    check_tier(account, cc)
    image = emulator.world.images.get(body["mediaId"])
    if not isinstance(image, GeneratedImage) or image.email != account.email:
        raise invalid_argument("mediaId", f"Invalid value at 'mediaId', \"{body['mediaId']}\": not a generated "
                                          "image of this account (use media[0].name of batchGenerateImages)")
    if image.project_id != project.project_id:
        raise invalid_argument("clientContext.projectId", f"Invalid value at 'clientContext.projectId': the image "
                                                          f"was generated in project {image.project_id}")
    if cc["sessionId"] != image.session_id:
        raise invalid_argument("clientContext.sessionId", f"Invalid value at 'clientContext.sessionId', "
                                                          f"\"{cc['sessionId']}\": must be the sessionId of the "
                                                          f"generation ({image.session_id})")
    check_recaptcha(request, account, cc, action="IMAGE_GENERATION", project_id=project.project_id)
    check_safety(request, account)
    factor, cap = IMAGE_UPSAMPLE[body["targetResolution"]]
    long_edge = min(cap, max(image.width, image.height) * factor)
    width, height = fit_long_edge(IMAGE_ASPECT_RATIOS[image.aspect_ratio], long_edge)
    jpeg = render_jpeg(image.prompt, image.seed, image.model, width, height, image.tint)
    return web.json_response({"encodedImage": base64.b64encode(jpeg).decode("ascii")})
