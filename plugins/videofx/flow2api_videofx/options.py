"""Per-model params of the VideoFX providers, as written in ``models.yaml`` (spec §4, flow-models.yaml).

Both models forbid unknown keys, so a typo in the catalog is a load error
with its line number, not a silently ignored option.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Tier = Literal["PAYGATE_TIER_NOT_PAID", "PAYGATE_TIER_ONE", "PAYGATE_TIER_TWO"]
TIER_RANK: dict[str | None, int] = {None: 0, "PAYGATE_TIER_NOT_PAID": 0, "PAYGATE_TIER_ONE": 1, "PAYGATE_TIER_TWO": 2}

ImageModelName = Literal["GEM_PIX_2", "NARWHAL", "IMAGEN_3_5", "GEM_PIX"]
ImageAspectRatio = Literal[
    "IMAGE_ASPECT_RATIO_LANDSCAPE", "IMAGE_ASPECT_RATIO_PORTRAIT", "IMAGE_ASPECT_RATIO_SQUARE",
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE", "IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR",
]
ImageUpsample = Literal["UPSAMPLE_IMAGE_RESOLUTION_2K", "UPSAMPLE_IMAGE_RESOLUTION_4K"]
VideoAspectRatio = Literal["VIDEO_ASPECT_RATIO_LANDSCAPE", "VIDEO_ASPECT_RATIO_PORTRAIT"]
VideoUpsample = Literal["VIDEO_RESOLUTION_4K", "VIDEO_RESOLUTION_1080P"]
VideoSubKind = Literal["t2v", "i2v", "i2v_first", "i2v_first_last", "r2v", "extend", "omni"]


def tier_allows(account_tier: str | None, required: str) -> bool:
    """Whether an account of ``account_tier`` may use a model requiring ``required`` (unknown tier = free, spec §2.2)."""
    return TIER_RANK.get(account_tier, 0) >= TIER_RANK[required]


class ImageOptions(BaseModel):
    """``videofx-image`` route params: spec §2.6 ``imageModelName``/``imageAspectRatio``, §2.7 upsample target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_model: ImageModelName
    aspect_ratio: ImageAspectRatio
    upsample: ImageUpsample | None = None
    min_images: int = Field(0, ge=0)
    max_images: int | None = Field(None, ge=0, description="null = no limit enforced (spec §6)")
    required_tier: Tier = "PAYGATE_TIER_NOT_PAID"


class VideoOptions(BaseModel):
    """``videofx-video`` route params: spec §2.8–2.15 and the key-switching rules of §4.2.

    ``video_model_key`` is the key before switching; ``single_image_key`` the
    key for exactly one image (``_fl`` stripped); ``tier_two_key`` and
    ``tier_two_single_image_key`` the ``PAYGATE_TIER_TWO`` upgrades;
    ``with_images_key`` the key used when images are present (omni);
    ``upsampler_key`` the second, upsample request's key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_model_key: str = Field(min_length=1)
    sub_kind: VideoSubKind
    aspect_ratio: VideoAspectRatio
    single_image_key: str | None = None
    tier_two_key: str | None = None
    tier_two_single_image_key: str | None = None
    with_images_key: str | None = None
    min_images: int = Field(0, ge=0)
    max_images: int | None = Field(None, ge=0)
    upsample: VideoUpsample | None = None
    upsampler_key: str | None = None
    duration_seconds: int | None = Field(None, ge=1)
    required_tier: Tier = "PAYGATE_TIER_NOT_PAID"
    ultra: bool = False
    relaxed: bool = False

    @model_validator(mode="after")
    def _upsampler_with_upsample(self) -> VideoOptions:
        if (self.upsample is None) != (self.upsampler_key is None):
            raise ValueError("upsample and upsampler_key go together")
        return self
