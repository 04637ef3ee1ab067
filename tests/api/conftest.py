"""Fakes for the surface tests: providers with scripted events, a trivial account family, a test catalog.

``FakeProvider`` follows STYLE.md §10 (like simonw/llm's ``MockModel``): a
provider class whose behaviour is a queue of *plans*, with a ``calls`` list,
served through the real app (``start_gateway(settings, factories=…)``). A plan
is a list of steps run by ``generate`` (or ``resume``): an event is yielded,
an exception raised, a float slept, an ``asyncio.Event`` awaited.
"""

from __future__ import annotations

import asyncio
import io
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai import AsyncOpenAI
from PIL import Image
from pydantic import BaseModel, ConfigDict

import flow2api_videofx.emulator as emulator_package
from flow2api.plugin import AccountUpdate, AccountView, Call, Kind, MediaOutput, PluginContext, Progress, Submitted
from tests.conftest import API_KEY, Gateway, make_settings

MP4 = (Path(emulator_package.__file__).parent / "assets" / "landscape.mp4").read_bytes()
IMAGE_MODEL = "fake-image"
VIDEO_MODEL = "fake-video-8s"
VIDEO_PORTRAIT_MODEL = "fake-video-8s-portrait"


def png(width: int = 64, height: int = 36, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG of the given size."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


Step = Any  # an Event, an Exception, a float (sleep seconds) or an asyncio.Event (wait)


@dataclass
class Script:
    """Shared by every instance of a fake provider (so a restarted app sees the same plans and calls)."""

    plans: deque[list[Step]] = field(default_factory=deque)
    resume_plans: deque[list[Step]] = field(default_factory=deque)
    default: list[Step] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    resumes: list[tuple[Call, dict[str, Any]]] = field(default_factory=list)


class FakeFamily:
    """Accounts ``{"token": …}`` → e-mail ``<token>@fake.test``; nothing to refresh."""

    name = "fake"
    config_sections: tuple[str, ...] = ()
    credential_fields = ("token",)

    async def add(self, credentials, http) -> AccountUpdate:  # noqa: ANN001
        token = credentials["token"]
        return AccountUpdate(email=f"{token}@fake.test", secrets={"token": token}, credits=100, tier="fake")

    def refresh_due(self, view: AccountView, now: float) -> bool:
        return False

    async def refresh(self, account, http) -> None:  # noqa: ANN001
        return None

    def demo_upstream(self, data_dir: Path) -> None:
        return None


FAMILY = FakeFamily()


class FakeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    aspect_ratio: str = "landscape"
    duration_seconds: int | None = None


class FakeProvider:
    """A scripted provider; ``script`` decides what each ``generate``/``resume`` call does."""

    name = "fake"
    kinds = frozenset({Kind.IMAGE})
    family = FAMILY
    Options = FakeOptions

    def __init__(self, context: PluginContext, script: Script) -> None:
        self.script = script

    def describe(self, options: FakeOptions) -> dict[str, Any]:
        return {"aspect_ratio": options.aspect_ratio, "duration_seconds": options.duration_seconds}

    def can_serve(self, options: FakeOptions, account: AccountView) -> bool:
        return True

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
        plan = self.script.plans.popleft() if self.script.plans else list(self.script.default)
        async for event in self._play(plan):
            yield event

    async def resume(self, call: Call, state: dict[str, Any]) -> AsyncIterator[Any]:
        self.script.resumes.append((call, state))
        plan = self.script.resume_plans.popleft() if self.script.resume_plans else list(self.script.default)
        async for event in self._play(plan):
            yield event


class FakeImageProvider(FakeProvider):
    name = "fake-image"
    kinds = frozenset({Kind.IMAGE})


class FakeVideoProvider(FakeProvider):
    name = "fake-video"
    kinds = frozenset({Kind.VIDEO})


def image_plan(data: bytes | None = None) -> list[Step]:
    return [Progress("drawing", 50),
            MediaOutput(Kind.IMAGE, mime_type="image/png", data=data or png(), upstream_id="img-1")]


def video_plan(*, resume: dict[str, Any] | None = None) -> list[Step]:
    return [
        Submitted(resume or {"operation": "op-1"}), Progress("rendering", 40),
        MediaOutput(Kind.VIDEO, mime_type="video/mp4", data=MP4, upstream_id="vid-1"),
    ]


def write_catalog(path: Path) -> Path:
    """A small catalog of fake models, with one video alias (landscape/portrait) for hint tests."""
    catalog = {
        "version": 1,
        "models": [
            {"id": IMAGE_MODEL, "kind": "image", "routes": [{"provider": "fake-image", "options": {}}]},
            {"id": "fake-image-portrait", "kind": "image",
             "routes": [{"provider": "fake-image", "options": {"aspect_ratio": "portrait"}}]},
            {"id": "fake-image-2k", "kind": "image", "routes": [{"provider": "fake-image", "options": {}}]},
            {"id": VIDEO_MODEL, "kind": "video",
             "routes": [{"provider": "fake-video", "options": {"duration_seconds": 8}}]},
            {"id": VIDEO_PORTRAIT_MODEL, "kind": "video",
             "routes": [{"provider": "fake-video", "options": {"duration_seconds": 8, "aspect_ratio": "portrait"}}]},
        ],
        "aliases": [
            {"id": "fake-img", "kind": "image", "default_aspect": "landscape",
             "targets": {"landscape": {"none": IMAGE_MODEL, "2k": "fake-image-2k"},
                         "portrait": {"none": "fake-image-portrait"}}},
            {"id": "fake-video", "kind": "video", "default_aspect": "landscape",
             "hints": ["aspect_ratio", "size", "image_dims"],
             "targets": {"landscape": {"none": VIDEO_MODEL}, "portrait": {"none": VIDEO_PORTRAIT_MODEL}}},
        ],
    }
    path.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return path


@dataclass
class FakeWorld:
    """The scripts of both fake providers and a way to start gateways that use them."""

    image: Script
    video: Script
    start: Callable[..., Any]


@pytest.fixture
def fake(tmp_path: Path, start_gateway: Callable) -> FakeWorld:
    """``await fake.start(accounts=1, **sections)`` → a gateway with the fake providers, catalog and accounts."""
    image, video = Script(default=image_plan()), Script(default=video_plan())
    catalog = write_catalog(tmp_path / "fake-models.yaml")

    async def start(accounts: int = 1, **sections: dict[str, Any]) -> Gateway:
        sections.setdefault("catalog", {})
        sections["catalog"] = {"path": str(catalog), **sections["catalog"]}
        settings = make_settings(tmp_path, **sections)
        factories = {
            "fake-image": lambda ctx: FakeImageProvider(ctx, image),
            "fake-video": lambda ctx: FakeVideoProvider(ctx, video),
        }
        gw = await start_gateway(settings, factories)
        for i in range(len(gw.pool.records()), accounts):
            await gw.pool.add("fake", {"token": f"acct{i}"})
        return gw

    return FakeWorld(image=image, video=video, start=start)


SdkFactory = Callable[..., AsyncOpenAI]


@pytest.fixture
async def sdk() -> AsyncIterator[SdkFactory]:
    """``sdk(gateway, key=API_KEY)`` → one ``AsyncOpenAI`` client per gateway and key, closed after the test."""
    clients: dict[tuple[str, str], AsyncOpenAI] = {}

    def client(gw: Gateway, key: str = API_KEY) -> AsyncOpenAI:
        if (gw.url, key) not in clients:
            clients[(gw.url, key)] = AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=30)
        return clients[(gw.url, key)]

    yield client
    for opened in clients.values():
        await opened.close()
