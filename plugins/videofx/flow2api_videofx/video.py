"""The ``videofx-video`` provider: Veo text/image/reference-to-video (spec §2.8–2.17, §3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from flow2api.errors import ProviderUnavailableError
from flow2api.plugin import AccountView, Call, Event, Kind, PluginContext
from flow2api_videofx.captcha import TokenChain
from flow2api_videofx.config import load_config
from flow2api_videofx.family import VideoFXFamily
from flow2api_videofx.options import VideoOptions, tier_allows


class VideoFXVideoProvider:
    """Flow video generation; see :class:`flow2api.plugin.Provider`."""

    name = "videofx-video"
    kinds = frozenset({Kind.VIDEO})
    Options = VideoOptions

    def __init__(self, context: PluginContext) -> None:
        self.config = load_config(context.sections)
        self.family = VideoFXFamily(self.config)
        self.tokens = TokenChain.from_config(self.config.captcha)

    def describe(self, options: VideoOptions) -> dict[str, Any]:
        """Capabilities for ``/v1/models``: sub_kind, aspect ratio, duration, upsample, input image counts, tier."""
        return {
            "sub_kind": options.sub_kind, "aspect_ratio": options.aspect_ratio,
            "duration_seconds": options.duration_seconds, "upsample": options.upsample,
            "min_images": options.min_images, "max_images": options.max_images, "required_tier": options.required_tier,
        }

    def can_serve(self, options: VideoOptions, account: AccountView) -> bool:
        """Only accounts whose tier reaches the model's ``required_tier`` (spec §4.1)."""
        return tier_allows(account.tier, options.required_tier)

    async def generate(self, call: Call) -> AsyncIterator[Event]:
        """Not yet implemented: refuses with 503 ``provider_unavailable`` before touching upstream."""
        raise ProviderUnavailableError("Video generation through videofx-video is not available yet.")
        yield  # pragma: no cover - makes this an async generator
