"""The scripted fake provider family of :mod:`flow2api.testing` (STYLE.md §10, simonw/llm's ``MockModel``).

A :class:`FakeProvider` plays the *plans* of its :class:`Script`; a plan is a list of steps: an event is
yielded, an exception raised, a number slept (seconds), an ``asyncio.Event`` awaited, any other callable
called. :class:`FakeFamily` takes ``{"token": …}`` credentials. Real code, no mocks: the gateway runs these
exactly as it runs a provider distribution's classes. Imports no provider plugin.
"""

from __future__ import annotations

import asyncio
import io
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict

from flow2api.errors import CredentialRejectedError
from flow2api.plugin import (
    AccountUpdate, AccountView, Call, FamilyBase, Kind, MediaOutput, Progress, ProviderBase, Submitted,
)

FAKE_IMAGE_MODEL = "fake-image"
FAKE_VIDEO_MODEL = "fake-video-8s"
FAKE_VIDEO_PORTRAIT_MODEL = "fake-video-8s-portrait"


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


#: A small ISO BMFF byte string (``ftyp`` first, so flow2api sniffs ``video/mp4``); not a playable video.
MP4 = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + _box(b"free", b"flow2api") + _box(b"mdat", bytes(range(64)))


def playable_mp4(width: int = 32, height: int = 48, frames: int = 24) -> bytes:
    """A real (decodable) MP4 of ``frames`` frames at 24 fps, encoded with PyAV's MPEG-4 Part 2 codec, for tests
    that read a video's frames or shape (thumbnails, uploaded edit sources)."""
    import av  # lazily: only the tests that need a playable clip pay for FFmpeg

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", (width, height), (i * 10 % 256, 40, 90)))
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def png(width: int = 64, height: int = 36, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG of ``width`` × ``height`` pixels in one colour."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


Step = Any  # an Event, an Exception, a float (sleep seconds), an asyncio.Event (wait) or a callable (called)


@dataclass
class Script:
    """What a fake provider does; shared by its instances (so a restarted app sees the same plans and calls).

    ``plans``/``resume_plans`` are consumed one per call; when empty, ``plan_for(call)`` (if set) or ``default``
    is played.
    ``calls`` records every ``generate`` call, ``resumes`` every ``(call, state)`` of ``resume``;
    ``serves`` decides ``can_serve``.
    """

    plans: deque[list[Step]] = field(default_factory=deque)
    resume_plans: deque[list[Step]] = field(default_factory=deque)
    default: list[Step] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    resumes: list[tuple[Call, dict[str, Any]]] = field(default_factory=list)
    #: ``plan_for(call) -> plan`` replaces ``default`` when ``plans`` is empty (a plan that depends on the job).
    plan_for: Callable[[Call], list[Step]] | None = None
    #: ``serves(options, account) -> bool`` is the provider's ``can_serve`` (e.g. a tier check); ``None``: every account.
    serves: Callable[[BaseModel, AccountView], bool] | None = None


class FakeFamily(FamilyBase):
    """Accounts ``{"token": …, "tier"?: …, "email"?: …}`` → that e-mail (default ``<token>@fake.test``), that tier
    (default ``fake``), 100 credits; only the token is stored as a secret.

    A token starting with ``rejected`` is refused as upstream refuses a dead credential
    (``CredentialRejectedError``). Nothing to refresh.
    """

    name = "fake"
    config_sections: tuple[str, ...] = ()
    credential_fields = ("token",)

    async def add(self, credentials: Mapping[str, str], http: Any) -> AccountUpdate:
        token = credentials["token"]
        if token.startswith("rejected"):
            raise CredentialRejectedError("the fake upstream refused this token")
        return AccountUpdate(email=credentials.get("email") or f"{token}@fake.test", secrets={"token": token},
                             credits=100, tier=credentials.get("tier", "fake"))

    def refresh_due(self, view: AccountView, now: float) -> bool:
        return False

    async def refresh(self, account: Any, http: Any) -> None:
        return None


FAKE_FAMILY = FakeFamily()


class FakeOptions(BaseModel):
    """Default per-model options of :class:`FakeProvider`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    aspect_ratio: str = "landscape"
    duration_seconds: int | None = None


class FakeProvider(ProviderBase):
    """A provider whose ``generate``/``resume`` play the plans of its :class:`Script`.

    ``FakeProvider("fake-video", Kind.VIDEO, script=…)``; ``options`` swaps the ``Options`` model and
    ``describe`` the function ``describe`` uses (default: the options' ``model_dump()``).
    """

    def __init__(self, name: str = "fake-image", kind: Kind = Kind.IMAGE, *, script: Script | None = None,
                 family: Any = FAKE_FAMILY, options: type[BaseModel] = FakeOptions,
                 describe: Callable[[Any], dict[str, Any]] | None = None) -> None:
        self.name, self.kinds, self.family, self.Options = name, frozenset({kind}), family, options
        self.script = script if script is not None else Script()
        self._describe = describe or (lambda opts: opts.model_dump())

    def describe(self, options: BaseModel) -> dict[str, Any]:
        return self._describe(options)

    def can_serve(self, options: BaseModel, account: AccountView) -> bool:
        return self.script.serves is None or self.script.serves(options, account)

    async def _play(self, plan: list[Step]) -> AsyncIterator[Any]:
        for step in plan:
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, (int, float)):
                await asyncio.sleep(step)
            elif isinstance(step, asyncio.Event):
                await step.wait()
            elif callable(step):
                step()
            else:
                yield step

    async def generate(self, call: Call) -> AsyncIterator[Any]:
        self.script.calls.append(call)
        if self.script.plans:
            plan = self.script.plans.popleft()
        else:
            plan = self.script.plan_for(call) if self.script.plan_for else list(self.script.default)
        async for event in self._play(plan):
            yield event

    async def resume(self, call: Call, state: dict[str, Any]) -> AsyncIterator[Any]:
        self.script.resumes.append((call, state))
        plan = self.script.resume_plans.popleft() if self.script.resume_plans else list(self.script.default)
        async for event in self._play(plan):
            yield event


def image_plan(data: bytes | None = None) -> list[Step]:
    """Progress, then one PNG (``data`` or :func:`png`)."""
    return [Progress("drawing", 50),
            MediaOutput(Kind.IMAGE, mime_type="image/png", data=data or png(), upstream_id="img-1")]


def video_plan(*, resume: dict[str, Any] | None = None) -> list[Step]:
    """Submitted (resume state ``resume`` or ``{"operation": "op-1"}``), progress, then :data:`MP4`."""
    return [
        Submitted(resume or {"operation": "op-1"}), Progress("rendering", 40),
        MediaOutput(Kind.VIDEO, mime_type="video/mp4", data=MP4, upstream_id="vid-1"),
    ]


def write_fake_catalog(path: Path) -> Path:
    """A catalog of fake models (providers ``fake-image``/``fake-video``) with two aliases; returns ``path``."""
    catalog = {
        "version": 1,
        "models": [
            {"id": FAKE_IMAGE_MODEL, "kind": "image", "routes": [{"provider": "fake-image", "options": {}}]},
            {"id": "fake-image-portrait", "kind": "image",
             "routes": [{"provider": "fake-image", "options": {"aspect_ratio": "portrait"}}]},
            {"id": "fake-image-2k", "kind": "image", "routes": [{"provider": "fake-image", "options": {}}]},
            {"id": FAKE_VIDEO_MODEL, "kind": "video",
             "routes": [{"provider": "fake-video", "options": {"duration_seconds": 8}}]},
            {"id": FAKE_VIDEO_PORTRAIT_MODEL, "kind": "video",
             "routes": [{"provider": "fake-video", "options": {"duration_seconds": 8, "aspect_ratio": "portrait"}}]},
        ],
        "aliases": [
            {"id": "fake-img", "kind": "image", "default_aspect": "landscape",
             "targets": {"landscape": {"none": FAKE_IMAGE_MODEL, "2k": "fake-image-2k"},
                         "portrait": {"none": "fake-image-portrait"}}},
            {"id": "fake-video", "kind": "video", "default_aspect": "landscape",
             "hints": ["aspect_ratio", "size", "image_dims"],
             "targets": {"landscape": {"none": FAKE_VIDEO_MODEL}, "portrait": {"none": FAKE_VIDEO_PORTRAIT_MODEL}}},
        ],
    }
    path.write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")  # models before aliases
    return path


