"""What the job engine yields to a surface: :class:`Accepted`, then progress, then :class:`Result` objects.

The first event of every run is :class:`Accepted`, the commit point: before it
an error is a plain HTTP error (and may have been failed over); after it the
job is bound to its account and an error belongs in the surface's stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from flow2api.plugin import Kind, Progress


@dataclass(frozen=True, slots=True)
class Result:
    """One finished output: public ``url`` (``/media/…``), cache ``name``, MIME type, size in bytes, upstream id."""

    kind: Kind
    url: str
    name: str
    mime_type: str
    size: int
    upstream_id: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider's first event arrived: the attempt is committed (no failover after it; see ``flow2api.plugin``)."""


ACCEPTED = Accepted()  # one instance: the commit point carries no data, so no allocation per job

JobEvent = Accepted | Progress | Result


async def events_from(first: JobEvent, rest: AsyncIterator[JobEvent]) -> AsyncIterator[JobEvent]:
    """``first`` (unless it is :class:`Accepted`) followed by the rest of ``rest``, closing ``rest`` when done.

    Streaming surfaces read the first event before opening the stream (errors
    until then are plain HTTP errors); this puts it back in front.
    """
    if not isinstance(first, Accepted):
        yield first
    try:
        async for event in rest:
            yield event
    finally:
        await rest.aclose()
