"""The shared emulator machinery on its own: fault rules and their injector, rendered images, bundled MP4s."""

from __future__ import annotations

import io
from typing import Literal

import pytest
from PIL import Image
from pydantic import ValidationError

from flow2api_flowkit.emulator import (FaultInjector, MatchingRule, fit_long_edge, inspect_upload, mean_color,
                                       render_jpeg, render_png, sniff_mime, video_asset)


class Rule(MatchingRule):
    """An emulator's rule model: its own kinds and one parameter."""

    kind: Literal["status", "latency"]
    status: int | None = None


class Injector(FaultInjector):
    rule_model = Rule


def test_a_rule_matches_account_and_operation_pattern_and_fires_count_times() -> None:
    faults = Injector()
    rule = faults.add({"kind": "status", "status": 503, "operation": "batch*", "account": "a@x", "count": 2})
    assert isinstance(rule, Rule) and rule.id
    assert faults.take("status", "batchGenerateImages", "b@x") is None  # another account
    assert faults.take("latency", "batchGenerateImages", "a@x") is None  # another kind
    assert faults.take("status", "credits", "a@x") is None  # another operation
    assert faults.take("status", "batchGenerateImages", "a@x") is rule
    assert faults.take("status", "batchCheck", "a@x") is rule
    assert faults.take("status", "batchGenerateImages", "a@x") is None and rule.fired == 2
    assert faults.remove(rule.id) and not faults.remove(rule.id)


def test_probability_rolls_are_seeded_and_unknown_keys_are_refused() -> None:
    def fired(seed: int) -> list[bool]:
        faults = Injector(seed)
        faults.add(Rule(kind="latency", probability=0.5))
        return [faults.take("latency", "op", None) is not None for _ in range(20)]

    assert fired(7) == fired(7) and any(fired(7)) and not all(fired(7))
    with pytest.raises(ValidationError):
        Injector().add({"kind": "status", "nosuch": 1})
    with pytest.raises(ValidationError):
        Injector().add({"kind": "bad_shape"})  # not one of this emulator's kinds


def test_images_are_deterministic_sized_and_tinted() -> None:
    assert fit_long_edge((16, 9), 1024) == (1024, 576) and fit_long_edge((9, 16), 1024) == (576, 1024)
    png = render_png("a lighthouse", 1, "model", 64, 36)
    assert png == render_png("a lighthouse", 1, "model", 64, 36) != render_png("a windmill", 1, "model", 64, 36)
    assert sniff_mime(png) == "image/png" and sniff_mime(render_jpeg("x", 1, "m", 32, 32)) == "image/jpeg"
    assert inspect_upload(png, "image/png")[:2] == (64, 36)
    red = io.BytesIO()
    Image.new("RGB", (8, 8), (250, 0, 0)).save(red, "PNG")
    assert inspect_upload(red.getvalue(), "image/png") == (8, 8, (250, 0, 0))
    assert mean_color([(250, 0, 0), (0, 0, 250)]) == (125, 0, 125) and mean_color([]) is None
    with pytest.raises(ValueError, match="cannot decode"):
        inspect_upload(b"\x89PNG\r\n\x1a\nbroken", "image/png")


def test_the_bundled_videos_are_mp4s_of_both_orientations() -> None:
    portrait, landscape = video_asset(True), video_asset(False)
    assert portrait[4:8] == landscape[4:8] == b"ftyp" and portrait != landscape
