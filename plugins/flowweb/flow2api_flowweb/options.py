"""Per-model params of the flowweb providers, as written in ``models.yaml`` (spec §3.6, §5, §10).

Aspect ratio and upscale names are the VideoFX ones, so one catalog entry reads the same for
both families; the plugin maps them to the integer enums of the new protocol. Unknown keys
are rejected (a typo in the catalog is a load error with its line number).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flow2api.errors import InvalidRequestError

Tier = Literal["PAYGATE_TIER_NOT_PAID", "PAYGATE_TIER_ONE", "PAYGATE_TIER_TWO"]
TIER_RANK: dict[str | None, int] = {None: 0, "PAYGATE_TIER_NOT_PAID": 0, "PAYGATE_TIER_ONE": 1, "PAYGATE_TIER_TWO": 2}
ImageAspectRatio = Literal[
    "IMAGE_ASPECT_RATIO_LANDSCAPE", "IMAGE_ASPECT_RATIO_PORTRAIT", "IMAGE_ASPECT_RATIO_SQUARE",
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE", "IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR",
]
#: Image model keys seen on flow.google.com (spec §10); the wire takes the string.
ImageModelKey = Literal["GEM_PIX_2", "NARWHAL", "HARBOR_SEAL", "BELUGA"]
VideoAspectRatio = Literal["VIDEO_ASPECT_RATIO_LANDSCAPE", "VIDEO_ASPECT_RATIO_PORTRAIT", "VIDEO_ASPECT_RATIO_SQUARE"]
ImageUpscale = Literal["UPSAMPLE_IMAGE_RESOLUTION_2K", "UPSAMPLE_IMAGE_RESOLUTION_4K"]
VideoUpscale = Literal["VIDEO_RESOLUTION_1080P", "VIDEO_RESOLUTION_4K"]
VideoMode = Literal["t2v", "i2v", "i2v_first", "i2v_first_last", "r2v", "extend", "omni", "edit"]

__all__ = ["ImageOptions", "VideoOptions", "check_image_count", "tier_allows"]


def tier_allows(account_tier: str | None, required: str) -> bool:
    """Whether an account of ``account_tier`` may use a model requiring ``required`` (unknown tier = free)."""
    return TIER_RANK.get(account_tier, 0) >= TIER_RANK[required]


def check_image_count(count: int, low: int, high: int | None) -> None:
    """400 when ``count`` input images is outside ``[low, high]`` (``high`` None = no upper limit)."""
    if count < low or (high is not None and count > high):
        bound = f"{low}" if high == low else f"{low} to {high}" if high is not None else f"at least {low}"
        raise InvalidRequestError(f"This model takes {bound} input image(s); {count} given.", param="messages")


class ImageOptions(BaseModel):
    """``flowweb-image`` route params: ``ogiZ0b`` model key and aspect, optional ``SPrCad`` upscale (spec §5.1, §5.9).

    ``input_mode``: ``edit`` sends the first input image as the base image (type 2) and the
    rest as references (type 1); ``reference`` sends all as references (spec §3.6, §5.1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_model: ImageModelKey
    aspect_ratio: ImageAspectRatio
    upsample: ImageUpscale | None = None
    input_mode: Literal["edit", "reference"] = "edit"
    min_images: int = Field(0, ge=0)
    max_images: int | None = Field(None, ge=0)
    required_tier: Tier = "PAYGATE_TIER_NOT_PAID"


class VideoOptions(BaseModel):
    """``flowweb-video`` route params (spec §5.3–§5.8, §10).

    ``sub_kind`` picks the submit RPC: ``t2v`` → YhhmEf; ``i2v`` → eb1hJf with one image, or
    nprQif with ``first_last_key`` when two are given; ``i2v_first`` → eb1hJf (exactly one);
    ``i2v_first_last`` → nprQif (exactly two); ``r2v`` → MZZa6b (1–3 references); ``extend`` →
    fZytfe (the source media id comes with the request); ``omni`` → YhhmEf without images, MZZa6b
    with ``with_images_key`` when 1–3 are given; ``edit`` → jIps6 on a source video (the job's
    ``extend_media_id``, or a video of the user's uploaded first, spec §14.1–§14.2) with 0–1 reference
    images. ``resolution`` 360p adds the ``[4]`` option / OutputSpec (use a ``_360p`` key with it). ``upsample`` + ``upsampler_key`` promote the result
    with p0UkFb. ``duration_seconds`` is the clip length the key implies.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_model_key: str = Field(min_length=1)
    sub_kind: VideoMode
    aspect_ratio: VideoAspectRatio
    first_last_key: str | None = None
    with_images_key: str | None = None
    resolution: Literal["720p", "360p"] = "720p"
    min_images: int = Field(0, ge=0)
    max_images: int | None = Field(None, ge=0)
    upsample: VideoUpscale | None = None
    upsampler_key: str | None = None
    duration_seconds: int | None = Field(None, ge=1)
    required_tier: Tier = "PAYGATE_TIER_NOT_PAID"

    @model_validator(mode="after")
    def _consistent(self) -> VideoOptions:
        if (self.upsample is None) != (self.upsampler_key is None):
            raise ValueError("upsample and upsampler_key go together")
        if self.sub_kind == "i2v_first_last" and self.first_last_key is not None:
            raise ValueError("i2v_first_last uses video_model_key itself; first_last_key is for sub_kind i2v")
        if (self.sub_kind == "omni") != (self.with_images_key is not None):
            raise ValueError("with_images_key is required for sub_kind omni, and only there")
        return self
