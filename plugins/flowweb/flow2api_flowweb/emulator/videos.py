"""Video RPCs of the emulator: submits, promotion, status and media (spec §5.3–§5.8, §6).

Submits answer ``[null, <credits left>, [[summary]…], [[RECORD]…]]`` with status 6, the new
video's media and workflow ids derived from the item's seeds (spec §3.3; a reused seed is refused); each
``jwpduf`` naming a video advances it (2 running, then 3 done at ``video_polls_to_finish``
polls, or the ``video_fail`` status); ``as29s`` gives the bare id until the signed URLs exist
(``url_delay_reads`` reads after status 3). Model keys and costs are those of the model table
(models.py: spec §10 per RPC; extend and promotion keys only as the ``HTrJv`` catalogue lists them for the
account's service tier); ``_ultra`` keys need paygate tier 2.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from flow2api_flowkit.emulator.render import video_asset

from .handlers import image_item
from .models import (
    EXTEND_REQUIREMENTS, FIRST_LAST_KEYS, I2V_KEYS, PROMOTION_REQUIREMENTS, R2V_KEYS, T2V_KEYS, cost, duration, usage_for,
    video_usages,
)
from .rpc import RpcContext, array, context, expect, guard_generation, nulls, rpc, spend, uuid_at
from .state import Media
from .wire import RpcError


def _prompt(value: Any, where: str) -> str:
    p = array(value, where, length=3)
    expect(p[0] is None and p[1] is None, f"{where} must be [null, null, [[[text]]]]")
    parts = array(p[2], f"{where}[2]", min_len=1)
    texts = [x[0][0] for x in parts if isinstance(x, list) and x and isinstance(x[0], list) and x[0]
             and isinstance(x[0][0], str)]
    expect(len(texts) == len(parts) and "".join(texts).strip() != "", f"{where}[2] must be [[[\"<prompt>\"]]]")
    return " ".join(texts)


def derive_id(seed: str) -> str:
    """The id Flow derives from a seed UUID (spec §3.3): SHA-256 of the seed's first 64 characters, its first
    32 hex digits, version nibble 4, variant bits 10xx, formatted as a UUID."""
    value = int(hashlib.sha256(seed[:64].encode()).hexdigest()[:32], 16)
    value = (value & ~(0xF << 76)) | (4 << 76)  # version: the 13th hex digit
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant: the top bits of the 17th hex digit
    return str(uuid.UUID(int=value))


def _metadata(rc: RpcContext, value: Any, where: str) -> dict[str, str]:
    """Check a per-item block (spec §3.3) and return the ids its seeds pre-assign to the new video."""
    m = array(value, where, length=6)
    nulls(m, (1, 2, 3), where)
    expect(m[0] is None or isinstance(m[0], str), f"{where}[0] must be a scene id or null")
    uuid_at(m[4], f"{where}[4]")
    uuid_at(m[5], f"{where}[5]")
    media_id = derive_id(m[4])
    # Not in the spec: what Flow answers to a reused seed. The emulator refuses it, so a client that reuses
    # seeds (and would collide with its own earlier video) is caught here.
    expect(media_id not in rc.emulator.world.media, f"{where}[4]: this media seed was used before")
    return {"media_id": media_id, "workflow_id": derive_id(m[5])}


def _key_and_aspect(rc: RpcContext, key: Any, aspect: Any, where: str, keys: frozenset[str]) -> tuple[str, int]:
    expect(key in keys, f"{where}: {key!r} is not a model key of {rc.rpcid}")
    expect(aspect in (1, 2) or (aspect == 0 and str(key).startswith("abra_")), f"{where}: video aspect must be 1 or 2")
    if "_ultra" in key and rc.account.tier not in (2, 6):
        raise RpcError(7, f"{key} needs an Ultra account", reasons=["PUBLIC_ERROR_MODEL_ACCESS_DENIED"])
    return key, aspect


def _resolution(item: list, index: int, key: str, where: str) -> None:
    # version A of spec §13: [4] with _360p keys, nothing for 720p; bare ints (version B) are refused
    value = item[index] if index < len(item) else None
    if key.endswith("_360p"):
        expect(value == [4], f"{where}[{index}] must be [4] for a _360p key")
    else:
        expect(value is None, f"{where}[{index}] must be absent for 720p")
    expect(len(item) <= index + 1, f"{where} has slots after {index}")


def _frame(rc: RpcContext, value: Any, where: str, project: str | None) -> Media:
    f = array(value, where, min_len=2)
    expect(f[0] is None, f"{where}[0] must be null")
    if len(f) > 2:
        array(f, where, length=6)
        nulls(f, (2, 3, 4), where)
        crop = array(f[5], f"{where}[5]", length=4)
        expect(all(c is None or (isinstance(c, (int, float)) and 0 <= c <= 1) for c in crop), f"{where}[5] bad crop")
    media = rc.emulator.world.owned(f[1], rc.email, ("upload", "image"))
    if media is None:
        raise RpcError(5, f"{where}[1]: image not found for this account")
    expect(media.project == project, f"{where}[1]: media of another project")
    return media


def _trailer(value: Any) -> None:
    t = array(value, "args[2]", min_len=2)
    uuid_at(t[0], "args[2][0]")
    expect(t[1] in (1, 2), "args[2][1] must be 1 or 2")


def _new_video(rc: RpcContext, project: str | None, prompt: str, key: str, aspect: int, *, media_id: str | None = None,
               workflow_id: str | None = None, scheduled: bool = True, source: str | None = None,
               seconds: float | None = None) -> Media:
    rule = rc.emulator.faults.take("video_fail", rc.rpcid, rc.email)
    return rc.emulator.world.add_media(Media(
        id=media_id or str(uuid.uuid4()), kind="video", owner=rc.email, project=project,
        workflow_id=workflow_id or str(uuid.uuid4()), created=rc.emulator.clock(), prompt=prompt, model=key, aspect=aspect,
        polls_to_finish=rc.emulator.settings.video_polls_to_finish, scheduled=scheduled, source=source,
        duration_s=seconds or duration(key), doomed=(rule.media_status, rule.message) if rule is not None else None,
    ))


async def _submit(rc: RpcContext, parse_item, *, costs: dict[str, int] | None = None) -> Any:  # noqa: ANN001 - parse_item(item, where, project) -> (prompt, key, aspect, extra)
    args = array(rc.args, "args", length=3)
    project, token = context(rc, args[1], "args[1]", captcha=True)
    _trailer(args[2])
    items = array(args[0], "args[0]", min_len=1, max_len=4)
    parsed = [parse_item(array(item, f"args[0][{i}]", min_len=1), f"args[0][{i}]", project) for i, item in enumerate(items)]
    guard_generation(rc, token, action="VIDEO_GENERATION", project=project)
    spend(rc, sum((costs or {}).get(key) or cost(key) for _, key, _, _ in parsed))
    videos = [_new_video(rc, project, prompt, key, aspect, **extra) for prompt, key, aspect, extra in parsed]
    now = int(rc.emulator.clock())
    summaries = [[v.id, None, None, [v.prompt[:40], [now, 0], None, v.workflow_id], project] for v in videos]
    return [None, rc.account.credits, [summaries], [[v.record() for v in videos]]]


@rpc("YhhmEf")
async def text_to_video(rc: RpcContext) -> Any:
    """``[[ITEM], ctx, T]``, ITEM = ``[P, key, aspect, null, M, null, null, res?]`` (spec §5.3)."""
    def item(it: list, where: str, project: str | None):  # noqa: ANN202
        array(it, where, min_len=5)
        key, aspect = _key_and_aspect(rc, it[1], it[2], where, T2V_KEYS)
        nulls(it, (3, 5, 6), where)
        ids = _metadata(rc, it[4], f"{where}[4]")
        _resolution(it, 7, key, where)
        return _prompt(it[0], f"{where}[0]"), key, aspect, ids
    return await _submit(rc, item)


@rpc("eb1hJf")
async def start_image_to_video(rc: RpcContext) -> Any:
    """ITEM = ``[P, key, aspect, null, F(start), M, null, null, null, res?]`` (spec §5.4)."""
    def item(it: list, where: str, project: str | None):  # noqa: ANN202
        array(it, where, min_len=6)
        key, aspect = _key_and_aspect(rc, it[1], it[2], where, I2V_KEYS)
        nulls(it, (3, 6, 7, 8), where)
        frame = _frame(rc, it[4], f"{where}[4]", project)
        ids = _metadata(rc, it[5], f"{where}[5]")
        _resolution(it, 9, key, where)
        return _prompt(it[0], f"{where}[0]"), key, aspect, {"source": frame.id, **ids}
    return await _submit(rc, item)


@rpc("nprQif")
async def first_last_to_video(rc: RpcContext) -> Any:
    """ITEM = ``[P, key, aspect, null, F(start), F(end), M]`` (spec §5.5)."""
    def item(it: list, where: str, project: str | None):  # noqa: ANN202
        array(it, where, min_len=7, max_len=9)
        key, aspect = _key_and_aspect(rc, it[1], it[2], where, FIRST_LAST_KEYS)
        nulls(it, (3, 7, 8), where)
        start = _frame(rc, it[4], f"{where}[4]", project)
        _frame(rc, it[5], f"{where}[5]", project)
        ids = _metadata(rc, it[6], f"{where}[6]")
        return _prompt(it[0], f"{where}[0]"), key, aspect, {"source": start.id, **ids}
    return await _submit(rc, item)


@rpc("MZZa6b")
async def references_to_video(rc: RpcContext) -> Any:
    """ITEM = ``[P, [[null, ref]…], key, aspect, null, M, null, null, null, entities, null, res?]`` (spec §5.6)."""
    def item(it: list, where: str, project: str | None):  # noqa: ANN202
        array(it, where, min_len=6)
        key, aspect = _key_and_aspect(rc, it[2], it[3], where, R2V_KEYS)
        nulls(it, (4, 6, 7, 8, 10), where)
        refs = array(it[1], f"{where}[1]", min_len=1, max_len=3) if it[1] is not None else []
        expect(bool(refs) or (len(it) > 9 and it[9]), f"{where}: references or entities are required")
        for i, ref in enumerate(refs):
            _frame(rc, array(ref, f"{where}[1][{i}]", length=2), f"{where}[1][{i}]", project)
        ids = _metadata(rc, it[5], f"{where}[5]")
        _resolution(it, 11, key, where)
        return _prompt(it[0], f"{where}[0]"), key, aspect, ids
    return await _submit(rc, item)


@rpc("fZytfe")
async def extend_video(rc: RpcContext) -> Any:
    """ITEM = ``[[null, source, start frame?, end frame?], P, key, aspect, null, M]`` (spec §5.7)."""
    world = rc.emulator.world

    def item(it: list, where: str, project: str | None):  # noqa: ANN202
        array(it, where, length=6)
        # spec §5.7, §10: the key must be an extend usage of the catalogue (HTrJv) open to the account's tier
        usage = usage_for(rc, it[2], EXTEND_REQUIREMENTS, f"{where}[2]")
        key, aspect = _key_and_aspect(rc, usage.key, it[3], where, frozenset({usage.key}))
        expect(it[4] is None, f"{where}[4] must be null")
        src = array(it[0], f"{where}[0]", min_len=2, max_len=4)
        expect(src[0] is None, f"{where}[0][0] must be null")
        ids = _metadata(rc, it[5], f"{where}[5]")
        prompt = _prompt(it[1], f"{where}[1]")
        video = world.owned(src[1], rc.email, ("video",))
        if video is None:
            by_workflow = [m for m in world.media.values()
                           if m.kind == "video" and m.owner == rc.email and m.workflow_id == src[1]]
            if by_workflow:  # spec §5.7: the other id is accepted but never scheduled
                return prompt, key, aspect, {"scheduled": False, "source": src[1], **ids}
            raise RpcError(5, f"{where}[0][1]: source video not found")
        expect(video.status == 3 and video.failure is None, f"{where}[0][1]: the source video is not finished")
        frames = [f for f in src[2:] if f is not None]
        if frames:
            expect(len(frames) == 2 and all(isinstance(f, int) for f in frames)
                   and 1 <= frames[0] < frames[1] <= video.duration_s * 24, f"{where}[0]: bad frame range")
        return prompt, key, aspect, {"source": video.id, **ids}
    return await _submit(rc, item, costs={u.key: u.price for u in video_usages(rc.emulator)})


@rpc("p0UkFb")
async def upscale_video(rc: RpcContext) -> Any:
    """``[[row(32)], ctx, [uuid, 1]]``: row[0] source, [2] aspect, [4] workflow + seed, [6] target, [31] key (spec §5.8)."""
    args = array(rc.args, "args", length=3)
    project, token = context(rc, args[1], "args[1]", captcha=True)
    trailer = array(args[2], "args[2]", min_len=1)
    uuid_at(trailer[0], "args[2][0]")
    row = array(array(args[0], "args[0]", length=1)[0], "args[0][0]", length=32)
    nulls(row, tuple(i for i in range(32) if i not in (0, 2, 4, 6, 31)), "args[0][0]")
    source = array(row[0], "args[0][0][0]", length=2)
    video = rc.emulator.world.owned(source[1], rc.email, ("video",))
    if video is None:
        raise RpcError(5, "args[0][0][0][1]: source video not found")
    expect(video.status == 3 and video.failure is None, "the source video is not finished")
    expect(row[2] == video.aspect, "args[0][0][2] must be the source's aspect")
    workflow = array(row[4], "args[0][0][4]", length=5)
    expect(workflow[1] == video.workflow_id, "args[0][0][4][1] must be the source's workflow id")
    uuid_at(workflow[4], "args[0][0][4][4]")
    expect(row[6] in PROMOTION_REQUIREMENTS, "args[0][0][6] must be a resolution 1-3")
    # spec §5.8: row[31] must be an upsampler usage of the catalogue for that target, open to the account's tier
    usage = usage_for(rc, row[31], (PROMOTION_REQUIREMENTS[row[6]],), "args[0][0][31]")
    guard_generation(rc, token, action="VIDEO_GENERATION", project=project)
    spend(rc, usage.price)
    suffix = "_4k_upsampled" if row[6] == 3 else "_upsampled"
    out = _new_video(rc, project, video.prompt, row[31], video.aspect, media_id=video.id + suffix, source=video.id)
    return [None, rc.account.credits, [[[out.id, None, None, [out.prompt[:40]], project]]], [[out.record()]]]


def _advance(rc: RpcContext, video: Media) -> None:
    if not video.scheduled or video.status == 3 or video.failure is not None:
        return
    video.polls += 1
    if video.polls >= video.polls_to_finish:
        if video.doomed is not None:
            video.failure = video.doomed
            video.status = video.doomed[0]
        else:
            video.status = 3
    else:
        video.status = 2


@rpc("jwpduf")
async def check_status(rc: RpcContext) -> Any:
    """``[null, null, [["<id>"]…]]`` → ``[null, 50, [[RECORD]…]]`` (no URLs; size once done), spec §6.1."""
    args = array(rc.args, "args", length=3)
    nulls(args, (0, 1), "args")
    ids = array(args[2], "args[2]", min_len=1, max_len=100)
    records = []
    for i, slot in enumerate(ids):
        wanted = array(slot, f"args[2][{i}]", length=1)[0]
        video = rc.emulator.world.owned(wanted, rc.email, ("video",))
        if video is None:
            continue
        _advance(rc, video)
        size = len(video_asset(video.portrait)) if video.status == 3 and not video.failure else None
        records.append([video.record(size=size)])
    return [None, 50, records]


@rpc("as29s")
async def get_media(rc: RpcContext) -> Any:
    """``["<mediaId>"]`` → the bare id while unfinished, else RECORD with signed poster/MP4 URLs (spec §6.3)."""
    args = array(rc.args, "args", length=1)
    media = rc.emulator.world.owned(args[0], rc.email, ("video", "image", "upload", "video_upload"))
    if media is None:
        raise RpcError(5, "args[0]: media not found for this account")
    if media.kind == "video_upload":  # status 1, "ready, user upload" (spec §14.2), with its length
        return media.record()
    if media.kind != "video":
        return image_item(rc, media)
    if media.failure is not None:
        return media.record()
    if media.status != 3:
        return media.id
    media.url_reads += 1
    if media.url_reads <= rc.emulator.settings.url_delay_reads:
        return media.id
    urls = {"poster": rc.emulator.content_url(rc.request, "image", media.id),
            "video": rc.emulator.content_url(rc.request, "video", media.id)}
    return media.record(urls=urls, size=len(video_asset(media.portrait)))
