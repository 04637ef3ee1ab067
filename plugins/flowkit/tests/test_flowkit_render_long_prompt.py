"""The emulators' picture of a huge prompt renders in bounded time (issue 18 finding 6: the wrap was quadratic)."""

from __future__ import annotations

import time

import pytest
from flow2api_flowkit.emulator.render import caption, render_png


@pytest.mark.parametrize("prompt", ["x" * 4_000_000, "word " * 800_000], ids=["one word", "many words"])
def test_a_4_mb_prompt_renders_in_well_under_a_second(prompt: str) -> None:
    started = time.perf_counter()
    data = render_png(prompt, 7, "model", 320, 180)
    assert time.perf_counter() - started < 1.0
    assert data.startswith(b"\x89PNG")


def test_the_caption_is_the_first_three_wrapped_lines() -> None:
    assert caption("a red kite over a green hill at dawn", 10) == "a red kite\nover a\ngreen hill"
    assert caption("y" * 1_000_000, 8) == "yyyyyyyy\nyyyyyyyy\nyyyyyyyy"
