"""What upstream accepts: image model names, aspect ratios, upsample targets, video model keys, costs.

The video model keys come from ``assets/video_models.json`` (derived once from the spec's
``flow-models.yaml``; see that file's ``_comment``), each with the submit operations it may be
sent to (spec §2.9-§2.15, §4). Credit costs are invented (the spec is silent) and listed in
EMULATOR.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Final

IMAGE_MODELS: Final = ("GEM_PIX_2", "NARWHAL", "IMAGEN_3_5")

#: Image aspect ratio → (width, height) ratio (spec §2.6).
IMAGE_ASPECT_RATIOS: Final = {
    "IMAGE_ASPECT_RATIO_LANDSCAPE": (16, 9),
    "IMAGE_ASPECT_RATIO_PORTRAIT": (9, 16),
    "IMAGE_ASPECT_RATIO_SQUARE": (1, 1),
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": (4, 3),
    "IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR": (3, 4),
}
VIDEO_ASPECT_RATIOS: Final = ("VIDEO_ASPECT_RATIO_LANDSCAPE", "VIDEO_ASPECT_RATIO_PORTRAIT")


def is_portrait(aspect_ratio: str) -> bool:
    """Whether a ``VIDEO_ASPECT_RATIO_*`` value is the portrait one (its bundled MP4 is 90x160)."""
    return aspect_ratio == "VIDEO_ASPECT_RATIO_PORTRAIT"


#: Image upsample target → factor applied to the 1K long edge, and the long-edge cap (spec §2.7).
IMAGE_UPSAMPLE: Final = {"UPSAMPLE_IMAGE_RESOLUTION_2K": (2, 2048), "UPSAMPLE_IMAGE_RESOLUTION_4K": (4, 3072)}

#: Video upsample resolution → the upsampler key it must be paired with (spec §2.15).
VIDEO_RESOLUTIONS: Final = {"VIDEO_RESOLUTION_1080P": "veo_3_1_upsampler_1080p",
                            "VIDEO_RESOLUTION_4K": "veo_3_1_upsampler_4k"}

UPLOAD_MIME_TYPES: Final = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/jp2")

IMAGE_COST: Final = 1
"""Credits per generated image (invented)."""


@dataclass(frozen=True)
class VideoModels:
    """Known ``videoModelKey`` values → the submit operation names each may be sent to."""

    operations_by_key: dict[str, frozenset[str]]
    removed_before_head: frozenset[str]

    @classmethod
    def load(cls) -> "VideoModels":
        raw = json.loads(resources.files(__package__).joinpath("assets", "video_models.json").read_text("utf-8"))
        return cls({key: frozenset(ops) for key, ops in raw["keys"].items()}, frozenset(raw["removed_before_head"]))

    def problem(self, key: str, operation: str) -> str | None:
        """Why ``key`` may not be sent to ``operation``, or None when it may."""
        if key in self.removed_before_head:
            return f"videoModelKey {key!r} is no longer served"
        allowed = self.operations_by_key.get(key)
        if allowed is None:
            return f"unknown videoModelKey {key!r}"
        if operation not in allowed:
            return f"videoModelKey {key!r} cannot be used with {operation} (allowed: {', '.join(sorted(allowed))})"
        return None


def video_cost(key: str) -> int:
    """Credits one video costs (invented: quality 100, fast 20, lite 10, relaxed 0, extend 20,
    upsample 1080p 10 / 4K 50)."""
    if key.endswith("_relaxed"):
        return 0
    if key == "veo_3_1_upsampler_4k":
        return 50
    if key == "veo_3_1_upsampler_1080p":
        return 10
    if "lite" in key or "interpolation" in key:
        return 10
    if "fast" in key or "extend" in key or key.startswith("abra_"):
        return 20
    return 100


def video_duration_s(key: str) -> int:
    """Clip length implied by a key (spec §4: ``_4s``/``_6s`` keys, extend adds ~7 s, default 8)."""
    if "_4s" in key:
        return 4
    if "_6s" in key:
        return 6
    if "extend" in key:
        return 7
    return 8


def key_requires_tier_two(key: str) -> bool:
    """``_ultra`` keys are the Ultra plan's (spec §1.7 "tier switching", §4.1)."""
    return "_ultra" in key
