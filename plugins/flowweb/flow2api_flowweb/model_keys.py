"""Which extend and upsampler model keys an account may use, read from ``HTrJv`` at run time (spec §5.7, §5.8, §10).

Spec §10: "read HTrJv + nzlxg and pick usages available to the account's tier" (Fograd does so for extend and
upscale). The catalog's route keys (``video_model_key`` of an extend route, ``upsampler_key``) are what
flow2api sent before it read the catalogue; they stay the preference and the fallback:

* the key is the route's when the catalogue lists it for the operation and the account's service tier
  (``nzlxg[3]``, stored as the account's ``service_tier`` state); else the cheapest usage for that tier
  (catalogue order among equals). Extend = usages whose option requirement ids include 1 and 14; promotion
  = 21 (720p), 15 (1080p), 16 (4K);
* no usage for the tier → ``InvalidRequestError`` (400) naming the operation, before anything is submitted;
* HTrJv cannot be read (any upstream error, or a reply we cannot parse) → the route's key, with a warning:
  the submit then succeeds or fails on its own;
* the catalogue is kept per account for ``[flowweb] model_catalogue_ttl`` seconds (an unreadable one for at
  most a minute, so a broken read is not repeated before every job); ``fresh=True`` re-reads it, which the
  provider does once after upstream refused a picked key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from flow2api.errors import ContentPolicyError, Flow2APIError, InvalidRequestError, PermissionDeniedError
from flow2api_flowweb.catalogue import (
    EXTEND_REQUIREMENTS,
    PROMOTION_REQUIREMENTS,
    SERVICE_TIER_NAMES,
    Catalogue,
)
from flow2api_flowweb.layouts import VIDEO_ASPECTS
from flow2api_flowweb.options import VideoOptions
from flow2api_flowweb.records import as_int

if TYPE_CHECKING:
    from flow2api_flowweb.client import FlowWebClient

log = logging.getLogger(__name__)

#: How long an unreadable catalogue is remembered before the next job tries again (seconds).
UNREADABLE_TTL = 60.0


def service_tier(client: FlowWebClient) -> int | None:
    """The account's service tier (``nzlxg[3]``, read at add and refresh), ``None`` when unknown or 0."""
    tier = as_int(client.account.view.state.get("service_tier"))
    return tier if tier is not None and tier > 0 else None


class ModelKeys:
    """The per-account HTrJv cache (account id → (read at, catalogue or ``None`` = unreadable)) and the choice."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[int, tuple[float, Catalogue | None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def catalogue(self, client: FlowWebClient, *, fresh: bool = False) -> Catalogue | None:
        """The account's catalogue, read with ``client`` when absent, expired or ``fresh``; ``None`` when
        HTrJv cannot be read (logged once per read)."""
        account = client.account.view.id
        async with self._locks.setdefault(account, asyncio.Lock()):  # concurrent jobs of one account read once
            cached = self._cache.get(account)
            now = self.clock()
            if cached is not None and not fresh:
                read_at, catalogue = cached
                if now - read_at < (self.ttl if catalogue is not None else min(self.ttl, UNREADABLE_TTL)):
                    return catalogue
            try:
                catalogue = await client.model_catalogue()
            except Flow2APIError as exc:
                log.warning("flowweb: the model catalogue (HTrJv) of account %s could not be read (%s); using the "
                            "catalog's model keys", account, exc.code)
                catalogue = None
            self._cache[account] = (now, catalogue)
            return catalogue

    async def extend_key(self, client: FlowWebClient, options: VideoOptions, *, fresh: bool = False) -> str:
        """The ``fZytfe`` model key for ``options`` (an extend route) on ``client``'s account (module docstring)."""
        return await self._pick(client, "extend", EXTEND_REQUIREMENTS, options.video_model_key,
                                VIDEO_ASPECTS[options.aspect_ratio], fresh=fresh)

    async def upsampler_key(self, client: FlowWebClient, options: VideoOptions, *, fresh: bool = False) -> str:
        """The ``p0UkFb`` row[31] key for ``options.upsample`` (a route that promotes; module docstring)."""
        assert options.upsample is not None and options.upsampler_key is not None  # VideoOptions pairs them
        target = options.upsample.rsplit("_", 1)[-1]
        return await self._pick(client, f"upscale to {target}", (PROMOTION_REQUIREMENTS[options.upsample],),
                                options.upsampler_key, None, fresh=fresh)

    async def _pick(self, client: FlowWebClient, operation: str, requirements: tuple[int, ...], preferred: str,
                    aspect: int | None, *, fresh: bool) -> str:
        catalogue = await self.catalogue(client, fresh=fresh)
        if catalogue is None:
            log.warning("flowweb: %s uses the catalog's key %s (the model catalogue could not be read)",
                        operation, preferred)
            return preferred
        tier = service_tier(client)
        usable = catalogue.usable(requirements, tier=tier, aspect=aspect)
        if not usable:
            tier_text = "unknown" if tier is None else f"{tier}, {SERVICE_TIER_NAMES.get(tier, '?')}"
            raise InvalidRequestError(
                f"This model cannot {operation} on flow.google.com for this account: its model catalogue (HTrJv) "
                f"offers no {operation.split()[0]} usage to the account's service tier ({tier_text}). Use a model "
                "without it, or an account of a higher tier.", param="model")
        keys = [usage.key for usage in usable]
        return preferred if preferred in keys else keys[0]

    @staticmethod
    async def replacement(error: Flow2APIError, refused: str, repick: Callable[[], Awaitable[str]]) -> str | None:
        """After upstream refused a submit sent with ``refused``: the key to send once more, or ``None``.

        Only a refusal that may be the key's (INVALID_ARGUMENT 400, PERMISSION_DENIED / model access 403; not a
        content-policy verdict) is answered, by ``repick`` (a ``fresh=True`` pick, so the catalogue is re-read);
        the same key again means the refusal was not about the key.
        """
        if not isinstance(error, (InvalidRequestError, PermissionDeniedError)) or isinstance(error, ContentPolicyError):
            return None
        key = await repick()
        if key == refused:
            return None
        log.info("flowweb: model key %s refused; the re-read model catalogue lists %s", refused, key)
        return key
