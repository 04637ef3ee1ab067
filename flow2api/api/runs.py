"""How a surface hands a request's job to the job engine (:mod:`flow2api.jobs`), the same way for every surface.

The pipeline attached the request's catalog entry (route stage), account
selection (token selection stage) and session chooser (proxy routing stage);
:func:`start_job` adds what the surface parsed (prompt, input images) and
returns the engine's event iterator. The surface reads its first event
(``Accepted``, the commit point) before it opens a stream, so errors until then
are plain HTTP errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

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
    state = request[STATE]
    assert state.entry is not None and state.selection is not None and state.sessions is not None
    spec = JobSpec(
        task_id=task_id, model=state.entry.id, kind=state.entry.kind, prompt=prompt, images=images,
        extend_media_id=extend_media_id, base_url=base_url or public_base_url(request), caller=state.caller,
        new_row=NewRow(surface=surface, request=row),
    )
    return request.config_dict[ENGINE].run(spec, state.selection, state.sessions, on_lease=state.served_by)
