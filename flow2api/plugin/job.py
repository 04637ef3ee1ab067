"""One generation as a provider sees it: the kind of output, the job, its input images, the attempt's call.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports every name).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import aiohttp
from pydantic import BaseModel

from flow2api.plugin.accounts import AccountSession


class Kind(str, enum.Enum):
    """What a model produces."""

    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class InputImage:
    """An input image of a request: raw bytes and their sniffed MIME type (``image/png`` …)."""

    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Job:
    """One generation a client asked for, independent of the API surface it came through.

    ``model`` is the public model id the catalog resolved; ``options`` is the
    route's params already validated by the provider's ``Options`` model;
    ``images`` are input images in request order (first frame first);
    ``n`` is the number of outputs wanted (images; videos are always 1);
    ``extend_media_id`` names the upstream video an extend model continues (the chat surface's
    ``extend://<media id>``, spec §4.2 rule 6, §5.2) or an edit model changes, ``None`` for every other job.
    ``operation`` is what the job asks of its route (``text``, ``images``, ``extend``, ``edit``; see
    ``docs/catalog.md``); the engine only leases routes that can do it. For ``edit`` a video of the user's
    own may come as the first of ``images`` (``mime_type`` ``video/*``) instead of ``extend_media_id``.
    """

    model: str
    kind: Kind
    prompt: str
    options: BaseModel
    images: tuple[InputImage, ...] = ()
    n: int = 1
    request_id: str = ""
    extend_media_id: str | None = None
    operation: str = "text"


@dataclass(frozen=True, slots=True)
class Call:
    """Everything one generation attempt needs, frozen.

    ``http`` is a client session already routed through the account's proxy
    (or the global one); the provider uses it for every upstream call.
    """

    job: Job
    account: AccountSession
    http: aiohttp.ClientSession


