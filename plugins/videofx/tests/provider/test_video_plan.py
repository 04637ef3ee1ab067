"""Key switching and operation choice (spec §4.2) for every video route of the catalog, and the error classifier (§1.5)."""

from __future__ import annotations

import pytest
from videofx_helpers import _catalog

from flow2api.errors import (
    CaptchaError,
    ContentPolicyError,
    CredentialRejectedError,
    InvalidRequestError,
    PermissionDeniedError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from flow2api_videofx.emulator.catalog import VideoModels
from flow2api_videofx.options import VideoOptions, tier_allows
from flow2api_videofx.video_plan import extend_source, plan_video, strip_fl
from flow2api_videofx.wire import classify

TIERS = ("PAYGATE_TIER_NOT_PAID", "PAYGATE_TIER_ONE", "PAYGATE_TIER_TWO")
SOURCE = "0b5c2f2e-8f7e-4a8b-9d71-3f1e2a6c9b10"


def video_routes() -> list[tuple[str, VideoOptions]]:
    return [(m["id"], VideoOptions.model_validate(r["options"])) for m in _catalog()["models"]
            for r in m["routes"] if r["provider"] == "videofx-video"]


def test_every_catalog_route_plans_a_key_upstream_accepts_for_its_operation() -> None:
    """For each model, tier that may use it and allowed image count: the emulator's key list (from the spec) agrees."""
    accepted = VideoModels.load()
    checked = 0
    for model, options in video_routes():
        high = options.max_images if options.max_images is not None else 3
        for tier in TIERS:
            if not tier_allows(tier, options.required_tier):
                continue
            for count in range(options.min_images, high + 1):
                plan = plan_video(options, tier=tier, image_count=count, source_video_id=SOURCE)
                assert accepted.problem(plan.key, plan.operation) is None, (model, tier, count, plan)
                checked += 1
    assert checked > 300


@pytest.mark.parametrize(("key", "single"), [
    ("veo_3_1_i2v_s_fast_fl", "veo_3_1_i2v_s_fast"),
    ("veo_3_1_i2v_s_fast_ultra_fl", "veo_3_1_i2v_s_fast_ultra"),
    ("veo_3_1_i2v_s_fast_fl_portrait", "veo_3_1_i2v_s_fast_portrait"),
    ("veo_3_1_i2v_s_fast_ultra_relaxed", "veo_3_1_i2v_s_fast_ultra_relaxed"),
])
def test_strip_fl(key: str, single: str) -> None:
    assert strip_fl(key) == single


def opts(**values: object) -> VideoOptions:
    return VideoOptions.model_validate({"aspect_ratio": "VIDEO_ASPECT_RATIO_LANDSCAPE", **values})


def test_tier_two_switches_only_when_the_route_has_an_ultra_key() -> None:
    fast = opts(video_model_key="veo_3_1_t2v_fast", sub_kind="t2v", tier_two_key="veo_3_1_t2v_fast_ultra")
    assert plan_video(fast, tier="PAYGATE_TIER_TWO", image_count=0, source_video_id=None).key == "veo_3_1_t2v_fast_ultra"
    assert plan_video(fast, tier="PAYGATE_TIER_ONE", image_count=0, source_video_id=None).key == "veo_3_1_t2v_fast"
    lite = opts(video_model_key="veo_3_1_t2v_lite", sub_kind="t2v")
    assert plan_video(lite, tier="PAYGATE_TIER_TWO", image_count=0, source_video_id=None).key == "veo_3_1_t2v_lite"


def test_image_count_rules() -> None:
    r2v = opts(video_model_key="veo_3_1_r2v_fast_landscape", sub_kind="r2v", max_images=3)
    assert plan_video(r2v, tier=None, image_count=0, source_video_id=None).operation == "batchAsyncGenerateVideoText"
    with pytest.raises(InvalidRequestError, match="0 to 3"):
        plan_video(r2v, tier=None, image_count=4, source_video_id=None)
    t2v = opts(video_model_key="veo_3_1_t2v_fast", sub_kind="t2v", max_images=0)
    assert plan_video(t2v, tier=None, image_count=2, source_video_id=None).images == 0


@pytest.mark.parametrize(("given", "expected"), [
    (f"extend://{SOURCE}", SOURCE), (SOURCE, SOURCE), ("extend://", None), ("  ", None), (None, None),
])
def test_extend_source_forms(given: str | None, expected: str | None) -> None:
    assert extend_source(given) == expected


def envelope(reason: str | None, message: str, status: str, *details: dict) -> dict:
    info = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}] if reason else []
    return {"error": {"code": 0, "message": message, "status": status, "details": [*info, *details]}}


@pytest.mark.parametrize(("status", "body", "retry_after", "expected"), [
    (401, envelope("ACCESS_TOKEN_EXPIRED", "expired", "UNAUTHENTICATED"), None, CredentialRejectedError),
    (403, envelope("PUBLIC_ERROR_UNUSUAL_ACTIVITY", "reCAPTCHA evaluation failed", "PERMISSION_DENIED"), None, CaptchaError),
    (400, envelope("PUBLIC_ERROR_SOMETHING_WENT_WRONG", "reCAPTCHA evaluation failed", "INVALID_ARGUMENT"), None, CaptchaError),
    (429, envelope("RATE_LIMIT_EXCEEDED", "quota", "RESOURCE_EXHAUSTED"), "30", UpstreamRateLimitedError),
    (403, envelope("PUBLIC_ERROR_MODEL_ACCESS_DENIED", "plan", "PERMISSION_DENIED"), None, PermissionDeniedError),
    (400, envelope("PUBLIC_ERROR_UNSAFE_GENERATION", "unsafe", "INVALID_ARGUMENT"), None, ContentPolicyError),
    (400, envelope(None, "bad field", "INVALID_ARGUMENT"), None, InvalidRequestError),
    (503, envelope(None, "unavailable", "UNAVAILABLE"), None, UpstreamUnavailableError),
    (404, None, None, UpstreamError),
])
def test_classify(status: int, body: dict | None, retry_after: str | None, expected: type) -> None:
    error = classify(status, body, operation="op", retry_after=retry_after)
    assert type(error) is expected
    if retry_after:
        assert error.retry_after == 30.0


def test_retry_delay_is_read_from_retry_info_without_a_header() -> None:
    body = envelope("RATE_LIMIT_EXCEEDED", "quota", "RESOURCE_EXHAUSTED",
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"})
    assert classify(429, body, operation="op").retry_after == 12.0
