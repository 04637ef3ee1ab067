"""Reading flowweb RPC payloads: media records, generated images, uploads, credits (spec §5–§7).

Records are located by shape rather than by a fixed nesting, because the sources disagree on
the wrapping but agree on the record (spec §6.2): a list whose index 3 is a step marker::

    [id0 (media id), projectId, id2 (workflow id), "CAE", null, DETAILS, null, MEDIA_INFO, …]
    DETAILS[8] = [status, …]   DETAILS[10] = poster URL   DETAILS[13] = mp4 size
    MEDIA_INFO[0][8] = video URL   MEDIA_INFO[0][12] = model key   MEDIA_INFO[1][2][0] = seconds (§14.1)

Index 3 is ``"CAE"`` or a later workflow step such as ``"CAI"`` (an edit, spec §14.1).

A slot that must be there and is not raises ``UpstreamProtocolError`` naming the RPC and slot.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from flow2api.errors import UpstreamProtocolError
from flow2api_flowweb.envelope import first_uuid, slot

#: Job status values (spec §3.6): 6 submitted, 2 running, 3 done; 4 "complaint"; 5 and 7 failed.
SUBMITTED, RUNNING, DONE, COMPLAINT = 6, 2, 3, 4
FAILED_STATUSES = frozenset({5, 7})
#: Paygate tier enum (nzlxg[1]) → the tier names the catalog uses (spec §3.6).
PAYGATE_TIERS = {
    0: "PAYGATE_TIER_NOT_PAID", 1: "PAYGATE_TIER_ONE", 2: "PAYGATE_TIER_TWO", 3: "PAYGATE_TIER_NOT_PAID",
    4: "PAYGATE_TIER_NOT_PAID", 5: "PAYGATE_TIER_NOT_PAID", 6: "PAYGATE_TIER_TWO", 7: "PAYGATE_TIER_ONE",
    8: "PAYGATE_TIER_ONE",
}


def at_path(value: Any, *path: int) -> Any:
    """``value[i][j]…`` for ``path`` (negative indexes allowed), ``None`` where a slot is missing or not a list:
    upstream arrays are read tolerantly (trailing and unknown slots ignored)."""
    for index in path:
        if not isinstance(value, list) or not -len(value) <= index < len(value):
            return None
        value = value[index]
    return value


def as_int(value: Any) -> int | None:
    """``value`` when it is an ``int`` (not a ``bool``, which JSON ``true`` becomes), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Record:
    """One media record: ids, status and what a finished video carries (URLs, size, model key)."""

    media_id: str
    project_id: str | None
    workflow_id: str | None
    status: int | None
    message: str | None
    poster_url: str | None
    video_url: str | None
    size: int | None
    model_key: str | None
    reasons: tuple[str, ...] = ()
    duration: float | None = None


def is_step_marker(value: Any) -> bool:
    """RECORD[3]: ``"CAE"``, or a later workflow step ``"CAI"``, ``"CAM"`` … — base64url of protobuf ``08 <step>``
    (spec §14.1: edits come back as the next step of a workflow)."""
    if not isinstance(value, str) or len(value) != 3:
        return False
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 2 and raw[0] == 0x08 and raw[1] < 0x80


def _is_record(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 4 and is_step_marker(value[3]) and isinstance(value[0], str)


def _failure_message(status_slot: Any) -> str | None:
    for path in ((2, 0), (1, 1)):
        text = at_path(status_slot, *path)
        if isinstance(text, str) and text:
            return text
    return None


def _reasons(status_slot: Any) -> tuple[str, ...]:
    """Every ``PUBLIC_ERROR_*`` string in a failed status slot (content-filter refusals, spec §6.2, §14.1)."""
    found: list[str] = []
    stack = [status_slot]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, str):
            found += [word.strip(".,;:()") for word in value.split() if word.startswith("PUBLIC_ERROR_")]
    return tuple(dict.fromkeys(found))


def to_record(value: list[Any]) -> Record:
    """A :class:`Record` from one record array (absent optional slots are ``None``)."""
    details = at_path(value, 5)
    status_slot = at_path(details, 8)
    status = at_path(status_slot, 0)
    video_url = at_path(value, 7, 0, 8)
    size = at_path(details, 13)
    return Record(
        media_id=value[0],
        project_id=value[1] if isinstance(at_path(value, 1), str) else None,
        workflow_id=value[2] if isinstance(at_path(value, 2), str) else None,
        status=as_int(status),
        message=_failure_message(status_slot),
        poster_url=at_path(details, 10) if isinstance(at_path(details, 10), str) else None,
        video_url=video_url if isinstance(video_url, str) else None,
        size=size if isinstance(size, int) else None,
        model_key=at_path(value, 7, 0, 12) if isinstance(at_path(value, 7, 0, 12), str) else None,
        reasons=_reasons(status_slot) if status not in (SUBMITTED, RUNNING, DONE) else (),
        duration=_seconds(at_path(value, 7, 1, 2, 0)),
    )


def _seconds(value: Any) -> float | None:
    """MEDIA_INFO[1][2][0], the clip's length in seconds (spec §14.1: ``[width, height, [seconds]]``)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def find_records(payload: Any) -> list[Record]:
    """Every record in ``payload`` in document order (outermost first, nested records not searched)."""
    found: list[Record] = []

    def walk(value: Any) -> None:
        if _is_record(value):
            found.append(to_record(value))
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(payload)
    return found


def submitted_records(payload: Any, rpc: str) -> list[Record]:
    """The records of a video submit reply (at payload[3], spec §5.3); ``UpstreamProtocolError`` when none."""
    records = find_records(at_path(payload, 3)) or find_records(payload)
    if not records:
        raise UpstreamProtocolError(f"Flow {rpc} reply: payload[3] (media records) is missing (upstream changed?)")
    return records


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One ogiZ0b output: media id, signed URL, workflow id, seed."""

    media_id: str
    url: str
    workflow_id: str | None
    seed: int | None


def _image_url(item: Any, media_id: str) -> str | None:
    url = at_path(item, 6, 0, 13)
    if isinstance(url, str) and "/image/" in url:
        return url
    stack = [item]  # fallback of spec §5.1: any string naming /image/<mediaId>
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and f"/image/{media_id}" in value:
            return value
    return None


def generated_images(payload: Any, rpc: str = "ogiZ0b") -> list[GeneratedImage]:
    """The images of an ``ogiZ0b`` reply (spec §5.1): ``payload[0][i]`` = ``[mediaId, ?, workflowId, …, [DETAILS…]]``."""
    items = slot(payload, 0, rpc=rpc, what="media items")
    if not isinstance(items, list) or not items:
        raise UpstreamProtocolError(f"Flow {rpc} reply: payload[0] (media items) is empty (upstream changed?)")
    images = []
    for i, item in enumerate(items):
        media_id = slot(item, 0, rpc=rpc, what="media id", base=f"payload[0][{i}]")
        url = _image_url(item, str(media_id))
        if url is None:
            raise UpstreamProtocolError(f"Flow {rpc} reply: payload[0][{i}][6][0][13] (signed image URL) is missing "
                                        "(upstream changed?)")
        workflow = at_path(item, 2)
        seed = at_path(item, 6, 0, 1)
        images.append(GeneratedImage(str(media_id), url, workflow if isinstance(workflow, str) else None,
                                     seed if isinstance(seed, int) else None))
    return images


def uploaded_media_id(payload: Any, rpc: str = "maseQ") -> str:
    """The media id of a ``maseQ`` reply ``[[mediaId, projectId, workflowId, "CAE", …], …]`` (spec §5.2)."""
    media_id = at_path(payload, 0, 0)
    if not isinstance(media_id, str) or not media_id:
        # spec §2.7: a declined upload (e.g. a 1x1 PNG) answers 200 without an id
        raise UpstreamProtocolError(f"Flow {rpc} reply: payload[0][0] (media id) is missing; Flow declined the image?")
    return media_id


def project_id(payload: Any, rpc: str = "jHPbke") -> str:
    """The new project id of a ``jHPbke`` reply: its first UUID (spec §7)."""
    found = first_uuid(payload)
    if found is None:
        raise UpstreamProtocolError(f"Flow {rpc} reply: payload has no project id (upstream changed?)")
    return found


def credits_and_tier(payload: Any, rpc: str = "nzlxg") -> tuple[int | None, str, int | None]:
    """``nzlxg`` → (credits, paygate tier name, service tier 1–3), spec §7 / §3.6."""
    credits = at_path(payload, 0)
    if not isinstance(credits, int) or isinstance(credits, bool):
        raise UpstreamProtocolError(f"Flow {rpc} reply: payload[0] (credits) is missing (upstream changed?)")
    tier = at_path(payload, 1)
    service = at_path(payload, 3)
    return (credits, PAYGATE_TIERS.get(tier if isinstance(tier, int) else 0, "PAYGATE_TIER_NOT_PAID"),
            service if isinstance(service, int) else None)


def upscaled_image(payload: Any, rpc: str = "SPrCad") -> bytes:
    """The JPEG bytes of an ``SPrCad`` reply ``[[metadata], "<base64>"]`` (spec §5.9)."""
    encoded = slot(payload, 1, rpc=rpc, what="base64 image")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise UpstreamProtocolError(f"Flow {rpc} reply: payload[1] is not base64 (upstream changed?)") from exc
