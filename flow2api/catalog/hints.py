"""What a request says about the variant it wants, and the rule that turns it into an aspect and a size (spec §4.4).

A *resolver alias* (``gemini-3.0-pro-image``, ``veo_3_1_t2v_fast`` …) stands
for a table of concrete model ids keyed by aspect word and size. This module
owns the vocabulary of that table and the order in which request hints are
consulted; the table itself is data in ``models.yaml`` (see
:class:`flow2api.catalog.model.Alias`).

Aspect words and their ratios::

    landscape 16:9 · portrait 9:16 · square 1:1 · four-three 4:3 · three-four 3:4

Size keys: ``none`` (no upsampling, also for ``1k``/``720p``), ``2k``, ``4k``
(images), ``4k``, ``1080p``, ``360p`` (videos; ``360p`` is also chosen by a
``size`` whose shorter side is at most 480 px, e.g. ``640x360``).

Surfaces build a :class:`ResolveHints` from their request (the route stage
does it for the JSON, Gemini and form bodies it parses; see
:mod:`flow2api.pipeline.route`) and call ``catalog.resolve(model, hints)``;
:func:`hints_from_image` adds an input image's pixel size.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "landscape": (16, 9), "portrait": (9, 16), "square": (1, 1), "four-three": (4, 3), "three-four": (3, 4),
}
"""Aspect word → ``(width, height)`` ratio; the keys are the aspect keys of an alias's ``targets`` table."""

SIZE_KEYS = ("none", "2k", "4k", "1080p", "360p")
"""Size keys of an alias's ``targets`` table; ``none`` is the variant without upsampling."""

HINT_NAMES = ("aspect_ratio", "size", "image_size", "quality", "image_dims", "seconds")
"""The :class:`ResolveHints` fields an alias may listen to (its ``hints`` list in ``models.yaml``)."""

_RATIO_WORDS = {f"{w}:{h}": word for word, (w, h) in ASPECT_RATIOS.items()}
# Spellings seen from clients of the original flow2api (spec §4.4) and Flow's own enum names.
_WORD_SPELLINGS = {
    "landscape": "landscape", "portrait": "portrait", "square": "square", "four_three": "four-three",
    "three_four": "three-four",
    "image_aspect_ratio_landscape": "landscape", "image_aspect_ratio_portrait": "portrait",
    "image_aspect_ratio_square": "square", "image_aspect_ratio_landscape_four_three": "four-three",
    "image_aspect_ratio_portrait_three_four": "three-four",
    "video_aspect_ratio_landscape": "landscape", "video_aspect_ratio_portrait": "portrait",
}
_SIZE_SPELLINGS = {"1k": "none", "720p": "none", "2k": "2k", "4k": "4k", "1080p": "1080p", "360p": "360p"}
#: A ``size`` whose shorter side is at most this many pixels asks for the 360p variant (OpenAI-style "640x360").
SMALL_SIDE_360P = 480
# OpenAI Images API ``quality`` (spec §4.4): medium → 2K, the top grades → 4K, the rest → no upsampling.
_QUALITY_SIZES = {"medium": "2k", "high": "4k", "hd": "4k", "ultra": "4k"}
_WXH = re.compile(r"^\s*(\d{1,6})\s*[xX×*]\s*(\d{1,6})\s*$")


@dataclass(frozen=True, slots=True)
class ResolveHints:
    """What a request says about the variant it wants; every field is optional and the raw client value.

    ``aspect_ratio``
        A ratio (``"16:9"``, ``"9:16"``, ``"1:1"``, ``"4:3"``, ``"3:4"``) or an
        aspect word (``"portrait"``); Gemini ``generationConfig.imageConfig.aspectRatio``.
        A value the alias has no target for selects the alias's default aspect.
    ``size``
        OpenAI's ``"WxH"`` in pixels (``"1024x1792"``); the nearest aspect the
        alias offers is used. ``"auto"`` and unparsable values are ignored.
    ``image_size``
        ``"1k"``/``"2k"``/``"4k"`` (images), ``"720p"``/``"1080p"``/``"4k"``
        (videos), any case; Gemini ``imageConfig.imageSize``. ``1k``/``720p``
        mean no upsampling; a size the alias lacks is ignored.
    ``quality``
        OpenAI's ``quality``: ``medium`` → 2k, ``high``/``hd``/``ultra`` → 4k,
        anything else → no upsampling. Only consulted when ``image_size`` is absent.
    ``image_dims``
        The first input image's ``(width, height)`` in pixels (see
        :func:`hints_from_image`); its nearest aspect is used when neither
        ``aspect_ratio`` nor ``size`` decided one.
    ``seconds``
        The clip length the request asks for (OpenAI Videos ``seconds``,
        ``durationSeconds``), a whole number as text; picks a table of an
        alias with ``durations``.

    Order (spec §4.4): aspect from ``aspect_ratio``, else ``size``, else
    ``image_dims``, else the alias's ``default_aspect``; size from
    ``image_size``, else ``quality``, else a small ``size`` (360p), else none.
    An alias listens only to the hints named in its ``hints`` list.
    """

    aspect_ratio: str | None = None
    image_size: str | None = None
    size: str | None = None
    quality: str | None = None
    image_dims: tuple[int, int] | None = None
    seconds: str | None = None

    def aspect_decided(self, listens: frozenset[str] = frozenset(HINT_NAMES)) -> bool:
        """Whether ``aspect_ratio`` or ``size`` already fix the aspect (so input image dims are not needed)."""
        return ("aspect_ratio" in listens and bool(self.aspect_ratio)) or (
            "size" in listens and parse_wxh(self.size) is not None
        )


def parse_wxh(size: str | None) -> tuple[int, int] | None:
    """``"1024x768"`` → ``(1024, 768)``; ``None`` for anything else (``"auto"``, zero sides, junk)."""
    if not isinstance(size, str):
        return None
    match = _WXH.match(size)
    if match is None:
        return None
    width, height = int(match[1]), int(match[2])
    return (width, height) if width > 0 and height > 0 else None


def aspect_word(aspect_ratio: str) -> str | None:
    """The aspect word for a ratio or word spelling (``"16:9"``, ``"LANDSCAPE"``, ``"four_three"``), else ``None``."""
    text = aspect_ratio.strip().lower().replace(" ", "")
    return _RATIO_WORDS.get(text) or _WORD_SPELLINGS.get(text.replace("-", "_"))


def nearest_aspect(width: int, height: int, aspects: Sequence[str], prefer: str) -> str:
    """The word in ``aspects`` whose ratio is nearest to ``width:height`` (log-ratio distance); ties go to ``prefer``."""
    target = math.log(width / height)

    def distance(word: str) -> tuple[float, bool]:
        w, h = ASPECT_RATIOS[word]
        return round(abs(math.log(w / h) - target), 9), word != prefer

    return min(aspects, key=distance)


def choose_aspect(hints: ResolveHints | None, aspects: Sequence[str], default: str, listens: frozenset[str]) -> str:
    """The aspect word for ``hints`` among ``aspects`` (an alias's table keys); see :class:`ResolveHints` for the order."""
    if hints is None:
        return default
    if "aspect_ratio" in listens and hints.aspect_ratio:
        word = aspect_word(hints.aspect_ratio)
        # Spec §4.4: an unsupported ratio selects the default aspect rather than failing the request.
        return word if word in aspects else default
    if "size" in listens and (dims := parse_wxh(hints.size)) is not None:
        return nearest_aspect(*dims, aspects, default)
    if "image_dims" in listens and hints.image_dims is not None:
        width, height = hints.image_dims
        if width > 0 and height > 0:
            return nearest_aspect(width, height, aspects, default)
    return default


def choose_size(hints: ResolveHints | None, listens: frozenset[str]) -> str:
    """The size key (``none``, ``2k``, ``4k``, ``1080p``) ``hints`` ask for; the caller ignores sizes the alias lacks."""
    if hints is None:
        return "none"
    if "image_size" in listens and hints.image_size:
        return _SIZE_SPELLINGS.get(hints.image_size.strip().lower(), "none")
    if "quality" in listens and hints.quality:
        return _QUALITY_SIZES.get(hints.quality.strip().lower(), "none")
    if "size" in listens and (dims := parse_wxh(hints.size)) is not None and min(dims) <= SMALL_SIDE_360P:
        return "360p"
    return "none"


def choose_seconds(hints: ResolveHints | None, listens: frozenset[str]) -> int | None:
    """The clip length ``hints`` ask for, in whole seconds, or ``None`` (absent, not listened to, not a number)."""
    if hints is None or "seconds" not in listens or hints.seconds is None:
        return None
    text = str(hints.seconds).strip()
    return int(text) if text.isdigit() else None


def image_dims(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of encoded image bytes from the image header (Pillow), or ``None`` when unreadable.

    Only the header is parsed, so a prefix of a large file is enough; no pixel
    data is decoded.
    """
    from PIL import Image  # imported lazily: most requests name a concrete model and never need it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we only read the header
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Exception:  # noqa: BLE001 - Pillow raises many types for bad input; the hint is optional
        return None
    return (width, height) if width > 0 and height > 0 else None


def hints_from_image(data: bytes, base: ResolveHints | None = None) -> ResolveHints:
    """``base`` (or empty hints) with ``image_dims`` set from the first input image's encoded bytes.

    For surfaces that hold the input image themselves (Images edits, Videos
    ``input_reference``, Gemini ``inlineData``)::

        hints = ResolveHints(size=form.get("size"), quality=form.get("quality"))
        if first_image is not None:
            hints = hints_from_image(first_image.data, hints)
        entry = state.catalog.resolve(model, hints)

    Unreadable bytes leave ``image_dims`` as it was.
    """
    base = base or ResolveHints()
    dims = image_dims(data)
    return replace(base, image_dims=dims) if dims is not None else base
