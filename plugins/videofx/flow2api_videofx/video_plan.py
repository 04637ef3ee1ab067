"""Which video operation and ``videoModelKey`` a job uses, and the ``requests[]`` items sent (spec §2.9–2.15, §4.2).

Pure functions, no I/O: :func:`plan_video` applies the key-switching rules of
§4.2 to a route's :class:`~flow2api_videofx.options.VideoOptions`, the
account tier and the number of input images; the ``*_request`` builders make
the request items of §2.8 (REQ base + the operation's fields).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from flow2api.errors import InvalidRequestError
from flow2api_videofx.attempt import check_image_count
from flow2api_videofx.options import VideoOptions

TEXT = "batchAsyncGenerateVideoText"
START_IMAGE = "batchAsyncGenerateVideoStartImage"
START_AND_END_IMAGE = "batchAsyncGenerateVideoStartAndEndImage"
REFERENCE_IMAGES = "batchAsyncGenerateVideoReferenceImages"
EXTEND_VIDEO = "batchAsyncGenerateVideoExtendVideo"
UPSAMPLE_VIDEO = "batchAsyncGenerateVideoUpsampleVideo"

TIER_TWO = "PAYGATE_TIER_TWO"
EXTEND_SCHEME = "extend://"


@dataclass(frozen=True, slots=True)
class VideoPlan:
    """The submission a job needs: ``operation`` (submit method name), ``key`` (``videoModelKey``),
    ``images`` used (how many input images are uploaded and referenced), whether the tier-two
    key was chosen, and the ``source_video_id`` of an extend."""

    operation: str
    key: str
    images: int
    tier_two: bool = False
    source_video_id: str | None = None


def strip_fl(key: str) -> str:
    """The single-frame key of a two-frame key (spec §2.10): ``…_fl_…`` → ``…_…``, a trailing ``_fl`` dropped."""
    key = key.replace("_fl_", "_")
    return key[: -len("_fl")] if key.endswith("_fl") else key


def extend_source(value: str | None) -> str | None:
    """The source video id of an extend job from ``Job.extend_media_id``.

    Accepts the bare id or the chat form ``extend://<mediaId>`` (spec §4.2
    rule 6, §5.2); ``None`` when absent.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value[len(EXTEND_SCHEME):].strip() or None if value.startswith(EXTEND_SCHEME) else value


def plan_video(options: VideoOptions, *, tier: str | None, image_count: int, source_video_id: str | None) -> VideoPlan:
    """Choose operation and key (spec §4.2): tier-two upgrade (rule 1), image count (rule 4), extend (rule 6).

    * ``t2v``: images are dropped silently → Text.
    * ``i2v``: 1 image → StartImage with ``single_image_key`` (``_fl`` stripped); 2 → StartAndEndImage.
    * ``i2v_first`` / ``i2v_first_last``: exactly 1 → StartImage / exactly 2 → StartAndEndImage, key unchanged.
    * ``r2v``: 0 images → Text with the r2v key (as HEAD does); 1–3 → ReferenceImages.
    * ``omni``: 0 images → Text with ``video_model_key``; 1–3 → ReferenceImages with ``with_images_key``.
    * ``extend``: ExtendVideo on ``source_video_id`` (400 when missing); images ignored.

    ``PAYGATE_TIER_TWO`` accounts get ``tier_two_key`` / ``tier_two_single_image_key`` when the
    route defines them. Raises ``InvalidRequestError`` for a wrong image count.
    """
    tier_two = tier == TIER_TWO
    sub = options.sub_kind
    if sub in ("t2v", "extend"):
        image_count = 0
    else:
        check_image_count(image_count, options.min_images, options.max_images)
    upgrade = tier_two and options.tier_two_key is not None
    key = options.tier_two_key if upgrade and options.tier_two_key else options.video_model_key
    if sub == "extend":
        if not source_video_id:
            raise InvalidRequestError(
                "Extend models need the source video: pass its id as an image_url of the form extend://<mediaId>.",
                param="messages",
            )
        return VideoPlan(EXTEND_VIDEO, key, 0, upgrade, source_video_id)
    if sub == "t2v":
        return VideoPlan(TEXT, key, 0, upgrade)
    if sub == "i2v_first":
        return VideoPlan(START_IMAGE, options.single_image_key or key, 1, upgrade)
    if sub == "i2v_first_last":
        return VideoPlan(START_AND_END_IMAGE, key, 2, upgrade)
    if sub == "i2v":
        if image_count == 1:
            if tier_two and (options.tier_two_single_image_key or options.tier_two_key):
                single = options.tier_two_single_image_key or strip_fl(options.tier_two_key or key)
                return VideoPlan(START_IMAGE, single, 1, True)
            return VideoPlan(START_IMAGE, options.single_image_key or strip_fl(options.video_model_key), 1, False)
        return VideoPlan(START_AND_END_IMAGE, key, 2, upgrade)
    if sub == "omni":
        if image_count == 0:
            return VideoPlan(TEXT, options.video_model_key, 0, False)
        return VideoPlan(REFERENCE_IMAGES, options.with_images_key or options.video_model_key, image_count, False)
    # r2v
    if image_count == 0:
        return VideoPlan(TEXT, key, 0, upgrade)
    return VideoPlan(REFERENCE_IMAGES, key, image_count, upgrade)


def _seed() -> int:
    return random.randint(1, 99_999)


def video_request(plan: VideoPlan, *, prompt: str, aspect_ratio: str, media_ids: list[str]) -> dict[str, Any]:
    """One ``requests[]`` item for ``plan`` (spec §2.8 REQ base + §2.10–2.13 fields).

    ``media_ids`` are the uploaded images in request order (first frame first).
    """
    item: dict[str, Any] = {
        "aspectRatio": aspect_ratio,
        "seed": _seed(),
        "textInput": {"structuredPrompt": {"parts": [{"text": prompt}]}},
        "videoModelKey": plan.key,
        "metadata": {},
    }
    if plan.operation == START_IMAGE:
        item["startImage"] = {"mediaId": media_ids[0]}
    elif plan.operation == START_AND_END_IMAGE:
        item["startImage"] = {"mediaId": media_ids[0]}
        item["endImage"] = {"mediaId": media_ids[1]}
    elif plan.operation == REFERENCE_IMAGES:
        item["referenceImages"] = [{"imageUsageType": "IMAGE_USAGE_TYPE_ASSET", "mediaId": m} for m in media_ids]
    elif plan.operation == EXTEND_VIDEO:
        item["videoInput"] = {"mediaId": plan.source_video_id}
        item["metadata"] = {"workflowId": str(uuid.uuid4())}
    return item


def upsample_request(*, aspect_ratio: str, resolution: str, key: str, video_id: str) -> dict[str, Any]:
    """The ``requests[]`` item of ``UpsampleVideo`` (spec §2.15): no ``textInput``; ``video_id`` is the UUID form."""
    return {
        "aspectRatio": aspect_ratio,
        "resolution": resolution,
        "seed": _seed(),
        "videoInput": {"mediaId": video_id},
        "videoModelKey": key,
        "metadata": {"sceneId": str(uuid.uuid4())},
    }


def concat_inputs(source_id: str, extension_id: str) -> list[dict[str, Any]]:
    """``inputVideos`` joining a source clip and its extension (spec §2.20, values copied as HEAD sends them)."""
    return [
        {"mediaGenerationId": source_id, "lengthNanos": 8000, "startTimeOffset": "0s", "endTimeOffset": "8s"},
        {"mediaGenerationId": extension_id, "lengthNanos": 8000, "startTimeOffset": "1s", "endTimeOffset": "8s"},
    ]
