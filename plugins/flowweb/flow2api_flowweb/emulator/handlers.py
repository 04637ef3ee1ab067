"""Project, account and image RPCs of the emulator: jHPbke, nzlxg, HTrJv, maseQ, ogiZ0b, SPrCad (spec §5.1, §5.2, §5.9, §7).

Layouts are checked slot by slot against the spec (the version it prefers where sources
conflict, §13); a wrong slot is a bare ``[3]`` on the wire with the slot in ``X-Emulator-Detail``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from typing import Any

from flow2api_flowkit.emulator.render import fit_long_edge, inspect_upload, mean_color, render_jpeg, sniff_mime

from .models import catalogue_payload
from .rpc import RpcContext, array, context, expect, guard_generation, nulls, rpc, uuid_at
from .state import Media
from .wire import RpcError

#: Image model keys accepted by ogiZ0b ITEM[5] (spec §10).
IMAGE_MODELS = frozenset({"GEM_PIX_2", "NARWHAL", "HARBOR_SEAL", "BELUGA"})
#: Image aspect enum → (width, height) ratio, the measured version A of spec §3.6.
IMAGE_ASPECTS = {1: (1, 1), 2: (9, 16), 3: (16, 9), 4: (3, 4), 5: (4, 3)}
UPLOAD_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"})


def image_size(aspect: int, long_edge: int) -> tuple[int, int]:
    """Pixel size of an image of aspect enum ``aspect`` with long edge ``long_edge``."""
    return fit_long_edge(IMAGE_ASPECTS[aspect], long_edge)


def image_item(rc: RpcContext, media: Media) -> list[Any]:
    """An ogiZ0b media item ``[mediaId, projectId, workflowId, "CAE", null, null, [DETAILS, null, [w, h]]]``."""
    details: list[Any] = [None] * 14
    details[1] = media.seed
    details[7] = media.prompt
    details[13] = rc.emulator.content_url(rc.request, "image", media.id)
    return [media.id, media.project, media.workflow_id, "CAE", None, None, [details, None, [media.width, media.height]]]


@rpc("jHPbke")
async def create_project(rc: RpcContext) -> Any:
    """``["projects/*", [null, ["<title>"]], [null, 22]]`` → ``["<pid>", [null, ["<title>"]]]``."""
    args = array(rc.args, "args", length=3)
    expect(args[0] == "projects/*", "args[0] must be \"projects/*\"")
    title_slot = array(args[1], "args[1]", length=2)
    expect(title_slot[0] is None and isinstance(title_slot[1], list) and len(title_slot[1]) == 1
           and isinstance(title_slot[1][0], str), "args[1] must be [null, [title]]")
    expect(args[2] == [None, 22], "args[2] must be [null, 22]")
    project = rc.emulator.world.new_project(rc.email, title_slot[1][0])
    return [project.id, [None, [project.title]]]


@rpc("nzlxg")
async def credits(rc: RpcContext) -> Any:
    """``[]`` → ``[credits, paygateTier, null, serviceTier]`` (spec §7)."""
    expect(rc.args == [], "nzlxg takes no arguments ([])")
    return [rc.account.credits, rc.account.tier, None, rc.account.service_tier]


@rpc("HTrJv")
async def model_catalogue(rc: RpcContext) -> Any:
    """``[]`` → the model catalogue of models.py (families at ``[0][4]`` video, ``[0][5]`` image; spec §7);
    no reCAPTCHA token (spec §8)."""
    expect(rc.args == [], "HTrJv takes no arguments ([])")
    return catalogue_payload(rc.emulator)


@rpc("maseQ")
async def upload_image(rc: RpcContext) -> Any:
    """``[ctx, b64, mime, 1, null×4, name, binding, uuid, uuid]`` → ``[[mediaId, projectId, workflowId, "CAE"], null]``."""
    args = array(rc.args, "args", length=12)
    project, token = context(rc, args[0], "args[0]", captcha=True)
    expect(isinstance(args[1], str) and bool(args[1]) and not args[1].startswith("data:"),
           "args[1] must be base64 without a data: prefix")
    expect(args[2] in UPLOAD_TYPES, "args[2] must be an image MIME type")
    expect(args[3] == 1, "args[3] must be 1")
    nulls(args, (4, 5, 6, 7), "args")
    expect(isinstance(args[8], str) and bool(args[8]), "args[8] must be a file name")
    uuid_at(args[10], "args[10]")
    uuid_at(args[11], "args[11]")
    try:
        data = base64.b64decode(args[1], validate=True)
    except (binascii.Error, ValueError):
        raise RpcError(3, "args[1] is not base64") from None
    expect(sniff_mime(data) == args[2], "args[2] does not match the image bytes")
    try:
        width, height, tint = inspect_upload(data, args[2])
    except ValueError:
        raise RpcError(3, "args[1] does not decode as an image") from None
    # spec §5.2: the upload action is IMAGE_GENERATION (flowkit, version A of §13)
    guard_generation(rc, token, action="IMAGE_GENERATION", project=project)
    if width <= 1 and height <= 1:
        return [[]]  # spec §2.7: a 1x1 upload answers 200 without an id
    media = rc.emulator.world.add_media(Media(
        id=str(uuid.uuid4()), kind="upload", owner=rc.email, project=project, workflow_id=str(uuid.uuid4()),
        created=rc.emulator.clock(), mime_type=args[2], width=width, height=height, tint=tint,
    ))
    return [[media.id, media.project, media.workflow_id, "CAE"], None]


def _image_inputs(rc: RpcContext, value: Any, where: str, project: str | None) -> list[Media]:
    if value is None:
        return []
    inputs = array(value, where, min_len=1)
    found = []
    for i, item in enumerate(inputs):
        slot = array(item, f"{where}[{i}]", length=5)
        nulls(slot, (1, 2, 3), f"{where}[{i}]")
        expect(slot[4] in (1, 2), f"{where}[{i}][4] must be 1 (reference) or 2 (base image)")
        expect(slot[4] == 1 or i == 0, f"{where}[{i}]: only the first input may be the base image (type 2)")
        media = rc.emulator.world.owned(slot[0], rc.email, ("upload", "image"))
        if media is None:
            raise RpcError(5, f"{where}[{i}][0]: media not found for this account")
        expect(media.project == project, f"{where}[{i}][0]: media of another project")
        found.append(media)
    return found


@rpc("ogiZ0b")
async def generate_images(rc: RpcContext) -> Any:
    """``[null, [ITEM…], 1, ctx, [batch]]`` → ``[[item…], [[workflowId, null, null, [caption], pid]…]]`` (spec §5.1)."""
    args = array(rc.args, "args", length=5)
    expect(args[0] is None and args[2] == 1, "args[0] must be null and args[2] 1")
    project, token = context(rc, args[3], "args[3]", captcha=True)
    batch = array(args[4], "args[4]", length=1)
    uuid_at(batch[0], "args[4][0]")
    items = array(args[1], "args[1]", min_len=1, max_len=4)
    parsed = []
    for i, raw in enumerate(items):
        where = f"args[1][{i}]"
        item = array(raw, where, length=14)
        nulls(item, (0, 1, 6, 9, 10, 11), where)
        inputs = _image_inputs(rc, item[2], f"{where}[2]", project)
        expect(isinstance(item[3], int) and not isinstance(item[3], bool) and item[3] > 0, f"{where}[3] must be a seed")
        expect(item[4] in IMAGE_ASPECTS, f"{where}[4] must be an image aspect 1-5")
        expect(item[5] in IMAGE_MODELS, f"{where}[5] must be an image model key (got {item[5]!r})")
        expect(item[7] == args[3], f"{where}[7] must equal the top-level context")
        prompt = item[8]
        expect(isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], list) and len(prompt[0]) == 1
               and isinstance(prompt[0][0], list) and len(prompt[0][0]) == 1 and isinstance(prompt[0][0][0], str)
               and prompt[0][0][0].strip() != "", f"{where}[8] must be [[[\"<prompt>\"]]]")
        uuid_at(item[12], f"{where}[12]")
        uuid_at(item[13], f"{where}[13]")
        parsed.append((item, inputs, prompt[0][0][0]))
    if any(item[5] == "GEM_PIX_2" for item, _, _ in parsed) and not rc.source_path:
        raise RpcError(3, "GEM_PIX_2 needs source-path (spec §2.1)")
    guard_generation(rc, token, action="IMAGE_GENERATION", project=project)
    if rc.emulator.settings.image_latency_s:
        await asyncio.sleep(rc.emulator.settings.image_latency_s)
    out, workflows = [], []
    for item, inputs, prompt in parsed:
        width, height = image_size(item[4], rc.emulator.settings.image_size)
        media = rc.emulator.world.add_media(Media(
            id=str(uuid.uuid4()), kind="image", owner=rc.email, project=project, workflow_id=str(uuid.uuid4()),
            created=rc.emulator.clock(), width=width, height=height, prompt=prompt, seed=item[3], model=item[5],
            tint=mean_color([m.tint for m in inputs if m.tint is not None]), aspect=item[4],
        ))
        out.append(image_item(rc, media))
        workflows.append([media.workflow_id, None, None, [prompt[:60]], project])
    return [out, workflows]


@rpc("SPrCad")
async def upscale_image(rc: RpcContext) -> Any:
    """``["<mediaId>", 1|2, ctx]`` → ``[[mediaId, target], "<base64 JPEG>"]`` (spec §5.9)."""
    args = array(rc.args, "args", length=3)
    project, token = context(rc, args[2], "args[2]", captcha=True, project_required=False)
    expect(args[1] in (1, 2), "args[1] must be 1 (2K) or 2 (4K)")
    media = rc.emulator.world.owned(args[0], rc.email, ("image",))
    if media is None:
        raise RpcError(5, "args[0]: generated image not found for this account")
    guard_generation(rc, token, action="IMAGE_GENERATION", project=project)
    if args[1] == 2 and rc.account.tier not in (2, 6):
        raise RpcError(7, "4K image upscale needs an Ultra account", reasons=["PUBLIC_ERROR_MODEL_ACCESS_DENIED"])
    factor = 2 if args[1] == 1 else 4
    data = render_jpeg(media.prompt, media.seed, media.model, media.width * factor, media.height * factor, media.tint)
    return [[media.id, args[1]], base64.b64encode(data).decode()]
