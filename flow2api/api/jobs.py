"""Running one provider job for any surface: task rows, commit point, media caching.

Surfaces (chat completions, Images API, Gemini …) build a :class:`Job` and
iterate :func:`run_job`, which yields :class:`Progress` and :class:`Result`
events whatever the provider. Media outputs are put into the media cache and
come out as :class:`Result` with a flow2api URL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from flow2api.errors import Flow2APIError, UpstreamProtocolError
from flow2api.keys import MEDIA, POOL, SETTINGS, STATE, TASKS
from flow2api.plugin import Call, Job, Kind, MediaOutput, Progress, Submitted, Usage
from flow2api.storage.tasks import FAILED, RUNNING, SUCCEEDED

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Result:
    """One finished output: its public ``url`` (under ``/media/``), MIME type, size in bytes, upstream id."""

    kind: Kind
    url: str
    name: str
    mime_type: str
    size: int
    upstream_id: str | None = None


def public_base_url(request: web.Request) -> str:
    """Base URL for media links: ``[cache] base_url``, else the request's (honouring ``X-Forwarded-Proto/Host``)."""
    configured = request.config_dict[SETTINGS].current.cache.base_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{proto}://{host}"


async def run_job(request: web.Request, job: Job) -> AsyncIterator[Progress | Result]:
    """Run ``job`` on the request's leased account; yield progress and cached results.

    The first provider event commits the request (``state.committed``): from then
    on the lease stage does not fail over. The task row is created on the first
    attempt and closed with the outcome; errors propagate unchanged
    (:class:`Flow2APIError` subclasses). A job that ends without any media
    raises ``UpstreamProtocolError``.
    """
    state = request[STATE]
    assert state.lease is not None and state.http is not None
    tasks = request.config_dict[TASKS]
    media = request.config_dict[MEDIA]
    base = public_base_url(request)
    if state.attempts == 1:
        await tasks.create(
            state.request_id, kind=job.kind.value, model=job.model, prompt=job.prompt,
            api_key=state.caller.name if state.caller else None,
        )
    await tasks.update(state.request_id, status=RUNNING, account_id=state.lease.account_id)
    call = Call(job=job, account=state.lease, http=state.http)
    results: list[Result] = []
    try:
        async for event in state.lease.provider.generate(call):
            state.committed = True
            if isinstance(event, Progress):
                yield event
            elif isinstance(event, MediaOutput):
                result = await _cache(media, state.http, event, base)
                results.append(result)
                yield result
            elif isinstance(event, Submitted):
                await tasks.update(state.request_id, resume=dict(event.resume))
            elif isinstance(event, Usage) and event.remaining_credits is not None:
                await request.config_dict[POOL].update(state.lease.account_id, credits=event.remaining_credits)
        if not results:
            raise UpstreamProtocolError("the provider finished without producing any media")
    except Flow2APIError as exc:
        await tasks.update(state.request_id, status=FAILED, error=f"{exc.code}: {exc.message}")
        raise
    await tasks.update(
        state.request_id, status=SUCCEEDED, progress=100,
        result={"urls": [r.url for r in results], "names": [r.name for r in results]},
    )


async def _cache(media, http, event: MediaOutput, base: str) -> Result:  # noqa: ANN001 - internal helper
    if event.data is not None:
        stored = await media.store_bytes(event.data, event.mime_type)
    elif event.url:
        stored = await media.store_url(http, event.url, headers=event.headers, mime_type=event.mime_type)
    else:
        raise UpstreamProtocolError("the provider produced a media output with neither bytes nor URL")
    return Result(
        kind=event.kind, url=f"{base}/media/{stored.name}", name=stored.name, mime_type=stored.mime_type,
        size=stored.size, upstream_id=event.upstream_id,
    )
