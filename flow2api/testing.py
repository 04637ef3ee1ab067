"""flow2api's pytest plugin: one scripted fake provider family and the fixtures to run a gateway in a test.

Registered through the ``pytest11`` entry point (as datasette ships
``datasette/_pytest_plugin.py``), so the tests of the core and of every
provider distribution share it without importing each other's ``conftest``.

``FakeProvider`` follows STYLE.md §10 and simonw/llm's ``MockModel``: its
behaviour is a :class:`Script` — a queue of *plans* plus a ``calls`` list. A
plan is a list of steps run by ``generate`` (or ``resume``): an event is
yielded, an exception raised, a number slept (seconds), an ``asyncio.Event``
awaited, any other callable called. ``FakeFamily`` takes ``{"token": …}``
credentials and never refreshes.

Fixtures: :func:`start_gateway` (any providers), :func:`fake` (a gateway of
fake providers with a small catalog and accounts), :func:`sdk` (openai SDK
clients). Plain helpers: :func:`make_settings`, :class:`Gateway`,
:func:`add_account`, :func:`png`, :data:`MP4`, :func:`image_plan`,
:func:`video_plan`, :func:`write_fake_catalog`.

This module imports no provider plugin (tests/test_boundaries.py checks it).
"""

from __future__ import annotations

import asyncio
import io
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image
from pydantic import BaseModel, ConfigDict

import flow2api
from flow2api.app import create_app
from flow2api.discovery import build_providers
from flow2api.plugin import (
    AccountUpdate, AccountView, Call, FamilyBase, Kind, MediaOutput, PluginContext, Progress, ProviderBase, Submitted,
)
from flow2api.pool import POOL, AccountPool
from flow2api.settings import CORE_SECTIONS, Settings

__all__ = [
    "API_KEY", "FAKE_FAMILY", "FAKE_IMAGE_MODEL", "FAKE_VIDEO_MODEL", "FAKE_VIDEO_PORTRAIT_MODEL", "MP4", "REPO",
    "FakeFamily", "FakeOptions", "FakeProvider", "FakeWorld", "Gateway", "Script", "Step", "add_account",
    "fake", "image_plan", "make_settings", "png", "sdk", "start_gateway", "video_plan", "write_fake_catalog",
]

#: The source checkout holding the ``flow2api`` package (its ``models.yaml`` is the default test catalog).
REPO = Path(flow2api.__file__).resolve().parent.parent
#: The gateway API key every test settings object carries.
API_KEY = "test-api-key-0123456789"
FAKE_IMAGE_MODEL = "fake-image"
FAKE_VIDEO_MODEL = "fake-video-8s"
FAKE_VIDEO_PORTRAIT_MODEL = "fake-video-8s-portrait"


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


#: A small ISO BMFF byte string (``ftyp`` first, so flow2api sniffs ``video/mp4``); not a playable video.
MP4 = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + _box(b"free", b"flow2api") + _box(b"mdat", bytes(range(64)))


def png(width: int = 64, height: int = 36, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG of ``width`` × ``height`` pixels in one colour."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for a test: data in ``tmp_path / "data"``, the repo's models.yaml, :data:`API_KEY`, no file watching.

    ``sections`` override keys per section: core sections (``catalog={"path": …}``) are merged into the
    defaults, any other section (a plugin's, e.g. ``flow``) is handed to ``Settings.with_plugin_sections``.
    """
    base: dict[str, dict[str, Any]] = {
        "global": {"api_key": API_KEY},
        "storage": {"data_dir": str(tmp_path / "data")},
        "catalog": {"path": str(REPO / "models.yaml"), "watch": False},
        "generation": {"image_slot_wait_timeout": 0.5, "video_slot_wait_timeout": 0.5},
    }
    plugin: dict[str, dict[str, Any]] = {}
    for name, values in sections.items():
        if name in CORE_SECTIONS:
            base.setdefault(name, {}).update(values)
        else:
            plugin[name] = dict(values)
    return Settings.model_validate(base).with_plugin_sections(plugin)


@dataclass
class Gateway:
    """A running flow2api server (``url`` without trailing slash) and its app."""

    app: web.Application
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def pool(self) -> AccountPool:
        return self.app[POOL]


async def add_account(gateway: Gateway, family: str, credentials: Mapping[str, str], **fields: Any) -> Any:
    """Add an account to the gateway's pool as ``flow2api accounts add`` does; returns the pool's account record.

    The family checks ``credentials`` first and raises its typed errors (``CredentialRejectedError`` …).
    """
    return await gateway.pool.add(family, credentials, **fields)


@pytest.fixture
def start_gateway(aiohttp_server: Callable) -> Callable:
    """``await start_gateway(settings, factories)`` → a :class:`Gateway` served on loopback, stopped after the test.

    ``factories`` maps provider ids (as in ``models.yaml``) to ``PluginContext -> provider`` callables; providers
    are built with ``build_providers`` (no entry-point scan) and passed to ``create_app(settings, providers=…)``.
    """

    async def start(settings: Settings, factories: Mapping[str, Callable[[PluginContext], Any]]) -> Gateway:
        app = create_app(settings, providers=build_providers(settings, factories))
        return Gateway(app, await aiohttp_server(app))

    return start


Step = Any  # an Event, an Exception, a float (sleep seconds), an asyncio.Event (wait) or a callable (called)


@dataclass
class Script:
    """What a fake provider does; shared by its instances (so a restarted app sees the same plans and calls).

    ``plans``/``resume_plans`` are consumed one per call; when empty, ``default`` is played.
    ``calls`` records every ``generate`` call, ``resumes`` every ``(call, state)`` of ``resume``.
    """

    plans: deque[list[Step]] = field(default_factory=deque)
    resume_plans: deque[list[Step]] = field(default_factory=deque)
    default: list[Step] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    resumes: list[tuple[Call, dict[str, Any]]] = field(default_factory=list)


class FakeFamily(FamilyBase):
    """Accounts ``{"token": …}`` → e-mail ``<token>@fake.test``, tier ``fake``, 100 credits; nothing to refresh."""

    name = "fake"
    config_sections: tuple[str, ...] = ()
    credential_fields = ("token",)

    async def add(self, credentials: Mapping[str, str], http: Any) -> AccountUpdate:
        token = credentials["token"]
        return AccountUpdate(email=f"{token}@fake.test", secrets={"token": token}, credits=100, tier="fake")

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
    path.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return path


@dataclass
class FakeWorld:
    """The scripts of the two fake providers and ``start``, which serves gateways using them."""

    image: Script
    video: Script
    start: Callable[..., Any]


@pytest.fixture
def fake(tmp_path: Path, start_gateway: Callable) -> FakeWorld:
    """``await fake.start(accounts=1, **sections)`` → a :class:`Gateway` of fake providers with ``accounts`` accounts.

    Providers ``fake-image`` (default plan :func:`image_plan`) and ``fake-video`` (:func:`video_plan`) over the
    :func:`write_fake_catalog` catalog; accounts ``acct0``, ``acct1`` … of :class:`FakeFamily`. ``sections`` are
    :func:`make_settings` overrides. Every gateway started shares ``fake.image`` / ``fake.video``.
    """
    image, video = Script(default=image_plan()), Script(default=video_plan())
    catalog = write_fake_catalog(tmp_path / "fake-models.yaml")

    async def start(accounts: int = 1, **sections: dict[str, Any]) -> Gateway:
        sections["catalog"] = {"path": str(catalog), **sections.get("catalog", {})}
        factories = {
            "fake-image": lambda ctx: FakeProvider("fake-image", Kind.IMAGE, script=image),
            "fake-video": lambda ctx: FakeProvider("fake-video", Kind.VIDEO, script=video),
        }
        gw = await start_gateway(make_settings(tmp_path, **sections), factories)
        for i in range(len(gw.pool.records()), accounts):
            await add_account(gw, "fake", {"token": f"acct{i}"})
        return gw

    return FakeWorld(image=image, video=video, start=start)


@pytest.fixture
async def sdk() -> AsyncIterator[Callable[..., Any]]:
    """``sdk(gateway, key=API_KEY)`` → one ``openai.AsyncOpenAI`` per gateway and key (no retries), closed after."""
    from openai import AsyncOpenAI  # a test extra: imported only when the fixture is used

    clients: dict[tuple[str, str], AsyncOpenAI] = {}

    def client(gw: Gateway, key: str = API_KEY) -> AsyncOpenAI:
        if (gw.url, key) not in clients:
            clients[(gw.url, key)] = AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=30)
        return clients[(gw.url, key)]

    yield client
    for opened in clients.values():
        await opened.close()
