"""How a surface hands a request's job to the job engine (:mod:`flow2api.jobs`), the same way for every surface.

The pipeline attached the request's catalog entry (route stage), account
selection (token selection stage) and session chooser (proxy routing stage);
:func:`start_job` adds what the surface parsed (prompt, input images) and
returns the engine's event iterator. The surface reads its first event
(``Accepted``, the commit point) before it opens a stream, so errors until then
are plain HTTP errors. :func:`start_jobs` does the same for the jobs of one
request and honours its ``Idempotency-Key`` (:mod:`flow2api.api.idempotency`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web

from flow2api.api.idempotency import claim, idempotency_key, replayed
from flow2api.jobs import JobEvent, JobSpec, NewRow, public_base_url
from flow2api.jobs.engine import ENGINE
from flow2api.plugin import InputImage
from flow2api.request_state import STATE


def start_job(
    request: web.Request, *, task_id: str, prompt: str, surface: str, row: Mapping[str, Any],
    images: tuple[InputImage, ...] = (), extend_media_id: str | None = None, base_url: str | None = None,
) -> AsyncIterator[JobEvent]:
    """Run one job for ``request`` on ``state.entry`` through ``state.selection`` and ``state.sessions``.

    ``task_id`` names the task row the engine creates on the first attempt
    (``surface``, ``row`` as its ``request`` column); ``base_url`` prefixes
    media links (default :func:`~flow2api.jobs.public_base_url`). The engine
    records each attempt's account in ``state.account_id``. The caller must
    iterate it to the end or close it (``aclose``). Errors: see
    :meth:`flow2api.jobs.JobEngine.run`.
    """
    spec = _spec(request, task_id=task_id, prompt=prompt, surface=surface, row=row, images=images,
                 extend_media_id=extend_media_id, base_url=base_url)
    return _run(request, spec)


async def start_jobs(
    request: web.Request, *, digest: str, task_ids: Sequence[str], prompt: str, surface: str,
    rows: Sequence[Mapping[str, Any]], images: tuple[InputImage, ...] = (), extend_media_id: str | None = None,
    base_url: str | None = None,
) -> list[AsyncIterator[JobEvent]]:
    """One job per ``task_ids`` (``rows[i]`` its ``request`` column), as :func:`start_job`, with the request's
    ``Idempotency-Key`` honoured: with a key, the rows are stored ``queued`` first (the first holds the key and
    ``digest``, :func:`~flow2api.api.idempotency.request_hash` of the request); a key seen before yields the
    stored jobs' events instead (replayed, or joined while they run) without an upstream call.

    Raises 400 for a malformed key, 409 ``idempotency_key_reused`` for a key sent before with another digest.
    """
    base = base_url or public_base_url(request)
    specs = [_spec(request, task_id=task_id, prompt=prompt, surface=surface, row=row, images=images,
                   extend_media_id=extend_media_id, base_url=base) for task_id, row in zip(task_ids, rows, strict=True)]
    key = idempotency_key(request)
    if key is None:
        return [_run(request, spec) for spec in specs]
    stored = await claim(request, key, digest, specs)
    if stored is not None:
        return [replayed(request, task_id, base) for task_id in stored]
    return [_run(request, replace(spec, new_row=None)) for spec in specs]  # the rows exist, queued


def _spec(
    request: web.Request, *, task_id: str, prompt: str, surface: str, row: Mapping[str, Any],
    images: tuple[InputImage, ...], extend_media_id: str | None, base_url: str | None,
) -> JobSpec:
    state = request[STATE]
    assert state.entry is not None
    return JobSpec(
        task_id=task_id, model=state.entry.id, kind=state.entry.kind, prompt=prompt, images=images,
        extend_media_id=extend_media_id, base_url=base_url or public_base_url(request), caller=state.caller,
        new_row=NewRow(surface=surface, request=row),
    )


def _run(request: web.Request, spec: JobSpec) -> AsyncIterator[JobEvent]:
    state = request[STATE]
    assert state.selection is not None and state.sessions is not None
    return request.config_dict[ENGINE].run(spec, state.selection, state.sessions, on_lease=state.served_by)
