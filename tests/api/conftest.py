"""Names of the surface tests: the fake providers, catalog and fixtures of :mod:`flow2api.testing`.

``fake`` and ``sdk`` are fixtures of the flow2api pytest plugin; this module keeps the short names the
surface tests import.
"""

from __future__ import annotations

from collections.abc import Callable

from openai import AsyncOpenAI

from flow2api.testing import (  # noqa: F401 - re-exported for the surface tests
    FAKE_IMAGE_MODEL as IMAGE_MODEL,
    FAKE_VIDEO_MODEL as VIDEO_MODEL,
    FAKE_VIDEO_PORTRAIT_MODEL as VIDEO_PORTRAIT_MODEL,
    MP4,
    FakeWorld,
    Script,
    image_plan,
    png,
    video_plan,
)

SdkFactory = Callable[..., AsyncOpenAI]
