"""The events a provider yields (progress, checkpoints, media, usage) and a family's demo upstream.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports every name). Every event commits the
attempt to its account except :class:`Submitting` (see :mod:`flow2api.plugin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flow2api.plugin.job import Kind


@dataclass(frozen=True, slots=True)
class Progress:
    """Human-readable progress; ``percent`` is 0–100 when the provider can estimate it."""

    message: str
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class MediaOutput:
    """One finished output.

    Either ``data`` (bytes, e.g. a base64-decoded upsampled image) or ``url``
    (fetched by the core's media cache with ``http`` and ``headers``, streamed
    to disk). ``mime_type`` may be ``None`` for a URL (the response's
    Content-Type is used). ``upstream_id`` is the upstream media name, kept for
    follow-up operations (upsample, extend).
    """

    kind: Kind
    mime_type: str | None = None
    data: bytes | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upstream_id: str | None = None

    def __repr__(self) -> str:
        size = f"{len(self.data)} bytes" if self.data is not None else "url"
        return f"MediaOutput(kind={self.kind.value!r}, mime_type={self.mime_type!r}, {size})"


@dataclass(frozen=True, slots=True)
class Submitted:
    """Upstream accepted the job; ``resume`` (JSON-able) lets :meth:`Provider.resume` continue it later.

    The core stores ``resume`` with the task, so a video job survives a
    restart of flow2api: it is resumed on the same account instead of being
    submitted (and paid for) again.
    """

    resume: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Submitting:
    """The provider is about to send a paid submit that upstream can be asked about afterwards.

    ``resume`` (JSON-able) must let :meth:`Provider.resume` find out whether
    upstream got the submit: e.g. the output id that Flow derives from a seed
    the client chose (flow.google.com, spec ``flow-google-batchexecute.md``
    §3.3). The core stores it before it asks the provider for its next event,
    so the submit leaves only once the checkpoint is on disk; a crash between
    the submit and :class:`Submitted` then resumes the job on the same account
    instead of submitting it blind a second time. Unlike :class:`Submitted` it
    does not commit the attempt: a submit that fails may still fail over to
    another account (the core drops the checkpoint then).
    """

    resume: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Usage:
    """Credits the account has left after the job, as upstream reported them."""

    remaining_credits: int | None = None


Event = Progress | MediaOutput | Submitted | Submitting | Usage


@dataclass(frozen=True, slots=True)
class DemoUpstream:
    """A bundled emulator a family can run for ``flow2api demo``.

    ``sections`` override the family's settings sections (base URLs, solver)
    so they point at the emulator; ``credentials`` add one demo account.
    """

    sections: Mapping[str, Mapping[str, Any]]
    credentials: Mapping[str, str]


