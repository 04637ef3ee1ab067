"""``Idempotency-Key`` on every generating surface (chat, Images, Gemini, Videos; issue 21 item 6).

The key is the client's (Stripe's and OpenAI's convention: 1–255 printable
ASCII characters), scoped to the caller (the task rows' ``owner``), and kept
with the request's digest (:func:`request_hash`) on the first task row of the
request. A request that comes back with the same key:

* same digest, stored job finished → its stored result, replayed without an
  upstream call (:func:`replayed`; the surface renders it as a fresh answer);
* same digest, stored job still running (in this process or another) → the
  request waits for it (the row is polled) and answers its result;
* same digest, every stored job ``failed`` → the key is released and the
  request runs afresh (a failure, e.g. a client that left before the submit,
  is not an answer worth repeating);
* another digest → 409 ``idempotency_key_reused``.

Rows are kept ``[storage] retention_days``; the 24 h the issue asks for is the
least a key is honoured, as long as that setting is at least 1 day.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from flow2api.errors import ConflictError, GenerationFailedError, InvalidRequestError, UpstreamTimeoutError
from flow2api.jobs import JobEvent, JobSpec, Result, media_url
from flow2api.jobs.events import ACCEPTED
from flow2api.media import MEDIA
from flow2api.plugin import InputImage, Kind
from flow2api.request_state import STATE
from flow2api.settings import SETTINGS
from flow2api.storage.tasks import FAILED, QUEUED, TASKS, IdempotencyConflict, TaskRecord, owner_of

HEADER = "Idempotency-Key"
REPLAY_POLL_SECONDS = 0.25  # how often a request joining a running job reads its row
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
#: Fields that shape only the answer, not the job: a non-stream request retried as a stream joins the same job.
ANSWER_FIELDS = frozenset({"stream", "stream_options", "partial_images", "response_format", "output_format",
                           "output_compression"})


class IdempotencyKeyReusedError(ConflictError):
    """409: an ``Idempotency-Key`` came back with a different body (Stripe/OpenAI convention)."""

    code = "idempotency_key_reused"


def conflict(key: str) -> ConflictError:
    """The 409 for ``key`` reused with another request."""
    return IdempotencyKeyReusedError(
        f"The Idempotency-Key '{key}' was already used with a different request. Use a new key for a new job.",
        param=HEADER,
    )


def owner(request: web.Request) -> str:
    """The caller's ``owner`` value (:func:`~flow2api.storage.tasks.owner_of`): keys and jobs are per caller."""
    caller = request[STATE].caller
    return owner_of(caller.key_id if caller else None)


def idempotency_key(request: web.Request) -> str | None:
    """The request's ``Idempotency-Key`` header, or ``None``; 400 when it is not 1–255 printable ASCII characters."""
    key = request.headers.get(HEADER)
    if key is not None and not _KEY.match(key):
        raise InvalidRequestError("Idempotency-Key must be 1–255 printable ASCII characters.", param=HEADER)
    return key


def request_hash(canonical: dict[str, Any], images: Sequence[InputImage]) -> str:
    """The digest an ``Idempotency-Key`` is compared by: the request's fields and its inputs' SHA-256."""
    canonical = {**canonical, "images": [hashlib.sha256(image.data).hexdigest() for image in images]}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def body_hash(body: BaseModel, images: Sequence[InputImage]) -> str:
    """:func:`request_hash` of a parsed body (fields sent, except :data:`ANSWER_FIELDS`) and its decoded inputs."""
    return request_hash(body.model_dump(mode="json", exclude_unset=True, exclude=set(ANSWER_FIELDS)), images)


async def claim(request: web.Request, key: str, digest: str, specs: Sequence[JobSpec]) -> list[str] | None:
    """Create the ``queued`` rows of ``specs`` (their ``new_row``), the first holding ``key`` and ``digest`` →
    ``None``; or, for a key seen before with this digest, the stored request's task ids to replay.

    Raises :class:`IdempotencyKeyReusedError` (409) for another digest. Rows
    are created before any account is leased, so two concurrent requests with
    one key cannot both reach upstream (the second loses the insert and joins).
    """
    tasks = request.config_dict[TASKS]
    existing = await tasks.find_idempotent(owner(request), key)
    if existing is not None and (group := await _stored(request, existing, key, digest)) is not None:
        return group
    first, *rest = specs
    group_ids = [spec.task_id for spec in specs]
    try:
        await _create(request, first, key=key, digest=digest, group=group_ids)
    except IdempotencyConflict as exc:  # a concurrent request with the same key won the race
        group = await _stored(request, exc.existing, key, digest)
        if group is None:
            raise GenerationFailedError("A concurrent request with the same Idempotency-Key failed.") from None
        return group
    for spec in rest:
        await _create(request, spec)
    return None


async def _stored(request: web.Request, existing: TaskRecord, key: str, digest: str) -> list[str] | None:
    """The task ids of the stored request to replay, or ``None`` once its key is released (every job failed)."""
    if existing.request_hash != digest:
        raise conflict(key)
    tasks = request.config_dict[TASKS]
    group = list((existing.request or {}).get("group") or [existing.id])
    records = [await tasks.get(task_id) for task_id in group]
    if all(record is not None and record.status == FAILED for record in records):
        await tasks.release_key(existing.id)
        return None
    return group


async def _create(request: web.Request, spec: JobSpec, *, key: str | None = None, digest: str | None = None,
                  group: list[str] | None = None) -> None:
    assert spec.new_row is not None
    caller = request[STATE].caller
    row = dict(spec.new_row.request)
    if group is not None:
        row["group"] = group
    await request.config_dict[TASKS].create(
        spec.task_id, kind=spec.kind.value, model=spec.model, prompt=spec.prompt, surface=spec.new_row.surface,
        api_key=caller.name if caller else None, api_key_id=caller.key_id if caller else None, request=row,
        idempotency_key=key, request_hash=digest, status=QUEUED,
    )


async def replayed(request: web.Request, task_id: str, base_url: str) -> AsyncIterator[JobEvent]:
    """The stored job ``task_id`` as job events: ``Accepted``, then one :class:`Result` per stored output (URLs
    built for this request, ``base_url``); waits while it runs (bounded by its kind's timeout).

    Raises ``GenerationFailedError`` with the stored reason for a failed job,
    ``UpstreamTimeoutError`` when it does not finish in time.
    """
    app = request.config_dict
    generation = app[SETTINGS].current.generation
    loop = asyncio.get_running_loop()
    record = await app[TASKS].get(task_id)
    limit = generation.video_timeout if record is not None and record.kind == Kind.VIDEO.value \
        else generation.image_timeout
    deadline = loop.time() + limit
    while record is None or not record.finished:
        if loop.time() >= deadline:
            raise UpstreamTimeoutError(f"The job of this Idempotency-Key did not finish within {limit:g} s.")
        await asyncio.sleep(REPLAY_POLL_SECONDS)
        record = await app[TASKS].get(task_id)
    if record.status == FAILED:
        raise GenerationFailedError(f"The job of this Idempotency-Key failed: {record.error}")
    yield ACCEPTED
    stored = record.result or {}
    media = app[MEDIA]
    for name, mime, upstream_id in zip(stored.get("names") or [], stored.get("mime_types") or [],
                                       stored.get("upstream_ids") or [], strict=False):
        yield Result(kind=Kind(record.kind), url=media_url(app[SETTINGS], media, base_url, name), name=name,
                     mime_type=mime, size=media.size_of(name) or 0, upstream_id=upstream_id)
