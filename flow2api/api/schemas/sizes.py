"""The ``size`` values a model accepts on the Images and Videos APIs (OpenAI ``"WxH"``), and the check.

A model's list is the known sizes below whose shape is one the model makes:
an alias makes every aspect of its table, a concrete model the aspect its
provider describes (``describe(options)["aspect_ratio"]``). "Shape" allows a
ratio up to ×1.22 away from the aspect (log-ratio ≤ :data:`TOLERANCE`), so
OpenAI's ``1536x1024`` (3:2) is a landscape size. Any other value — ``"huge"``,
``"999x1"``, a square size for a landscape-only model — is a 400 naming
``size`` and listing the accepted values, as OpenAI answers. The size does not
pick a resolution: that is the model's (or ``quality`` / ``image_size``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from aiohttp import web

from flow2api.catalog import CatalogEntry
from flow2api.catalog.hints import ASPECT_RATIOS, aspect_word, parse_wxh
from flow2api.discovery import PROVIDERS
from flow2api.errors import InvalidRequestError
from flow2api.plugin import Kind, Provider
from flow2api.request_state import STATE

TOLERANCE = 0.2

IMAGE_SIZES = (
    "auto",
    # OpenAI's (gpt-image-1, DALL·E 3, DALL·E 2)
    "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792", "256x256", "512x512",
    # Gemini image models' own outputs and common screen sizes, per aspect
    "2048x2048", "4096x4096", "1344x768", "768x1344", "1184x864", "864x1184", "1024x768", "768x1024",
    "1280x720", "720x1280", "1920x1080", "1080x1920", "2560x1440", "1440x2560", "3840x2160", "2160x3840",
)
"""Image sizes a request may name; a model accepts those of its shape (module docstring)."""

VIDEO_SIZES = (
    "1280x720", "720x1280", "1792x1024", "1024x1792",   # OpenAI's (Sora)
    "1920x1080", "1080x1920", "3840x2160", "2160x3840", "640x360", "360x640",
)
"""Video sizes a request may name (landscape and portrait at 360p … 4K)."""


def model_aspects(entry: CatalogEntry, providers: Mapping[str, Provider]) -> tuple[str, ...] | None:
    """The aspect word a concrete model makes, from its first installed route's ``describe``; ``None`` when the
    provider does not describe one."""
    for route in entry.routes:
        provider = providers.get(route.provider)
        if provider is not None and route.options is not None:
            word = aspect_word(str(provider.describe(route.options).get("aspect_ratio") or ""))
            return (word,) if word else None
    return None


def sizes_for(kind: Kind, aspects: Sequence[str] | None) -> tuple[str, ...]:
    """The known sizes of ``kind`` whose shape is one of ``aspects`` (all of them for ``None``)."""
    known = IMAGE_SIZES if kind is Kind.IMAGE else VIDEO_SIZES
    if aspects is None:
        return known
    logs = [math.log(w / h) for w, h in (ASPECT_RATIOS[a] for a in aspects if a in ASPECT_RATIOS)]

    def fits(size: str) -> bool:
        dims = parse_wxh(size)
        if dims is None:
            return True  # "auto"
        ratio = math.log(dims[0] / dims[1])
        return any(abs(ratio - target) <= TOLERANCE for target in logs)

    return tuple(size for size in known if fits(size))


def check_size(request: web.Request, requested: str, entry: CatalogEntry, size: str | None) -> None:
    """400 (``param`` size) unless ``size`` is absent or in the list of the model ``requested`` (resolved to
    ``entry``)."""
    if size is None:
        return
    catalog = request[STATE].catalog
    alias = catalog.alias(requested) if catalog is not None else None
    aspects = alias.aspects if alias is not None else model_aspects(entry, request.config_dict[PROVIDERS])
    allowed = sizes_for(entry.kind, aspects)
    if size not in allowed:
        raise InvalidRequestError(
            f"Invalid value for 'size': {size[:40]!r}. The model '{requested}' supports: {', '.join(allowed)}.",
            param="size",
        )
