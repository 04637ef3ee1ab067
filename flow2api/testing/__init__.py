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
clients), :func:`gemini_sdk` (google-genai clients), :func:`admin_clients` (browser-like admin clients). Plain helpers:
:func:`make_settings`, :class:`Gateway`, :func:`add_account`, :func:`assert_api_error`, :func:`png`,
:data:`MP4`, :func:`image_plan`, :func:`video_plan`, :func:`write_fake_catalog`
(from :mod:`flow2api.testing.fakes`), :class:`AdminClient`
(:mod:`flow2api.testing.admin`), :func:`copy_models_yaml`, :func:`until`,
:func:`write_replace`, :func:`write_in_place`, :func:`run_cli` (:mod:`flow2api.testing.files`); a real
PostgreSQL server: :func:`postgres_server` (session) and :func:`postgres_url` (:mod:`flow2api.testing.postgres`); a real
S3 API (moto's server mode): :func:`s3_server` (session) and :func:`s3_cache` (:mod:`flow2api.testing.s3`); a real Redis
server: :func:`redis_server` (session), :func:`redis_url` and :func:`private_redis` (:mod:`flow2api.testing.redis`).
Submodules imported by name: :mod:`flow2api.testing.processes` (``flow2api`` as a child process: settings file,
free port, ready wait, stop) and :mod:`flow2api.testing.crash` (the ``kill -9`` drill of the provider families).

This module imports no provider plugin (tests/test_boundaries.py checks it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from flow2api.app import create_app
from flow2api.plugin import Kind, PluginContext
from flow2api.pool import POOL, AccountPool
from flow2api.settings import CORE_SECTIONS, Settings
from flow2api.startup import prepare
from flow2api.testing.admin import NEW_PASSWORD, AdminClient, AdminSite, admin_clients, assert_api_error
from flow2api.testing.fakes import (
    FAKE_FAMILY, FAKE_IMAGE_MODEL, FAKE_VIDEO_MODEL, FAKE_VIDEO_PORTRAIT_MODEL, MP4, FakeFamily, FakeOptions,
    FakeProvider, Script, Step, image_plan, playable_mp4, png, video_plan, write_fake_catalog,
)
from flow2api.testing.files import REPO, copy_models_yaml, run_cli, until, write_in_place, write_replace
from flow2api.testing.postgres import PostgresServer, postgres_server, postgres_url
from flow2api.testing.s3 import S3Server, s3_cache, s3_server
from flow2api.testing.redis import RedisServer, private_redis, redis_server, redis_url

__all__ = [
    "API_KEY", "FAKE_FAMILY", "FAKE_IMAGE_MODEL", "FAKE_VIDEO_MODEL", "FAKE_VIDEO_PORTRAIT_MODEL", "MP4",
    "NEW_PASSWORD", "REPO", "AdminClient", "AdminSite", "assert_api_error", "FakeFamily", "FakeOptions", "FakeProvider", "FakeWorld",
    "Gateway", "PostgresServer", "RedisServer", "S3Server", "Script", "Step", "add_account", "admin_clients", "copy_models_yaml", "fake", "gemini_sdk", "image_plan",
    "make_settings", "playable_mp4", "png", "postgres_server", "postgres_url", "private_redis", "redis_server", "redis_url", "run_cli", "s3_cache", "s3_server", "sdk", "start_gateway", "until", "video_plan", "write_fake_catalog", "write_in_place",
    "write_replace",
]

#: The gateway API key every test settings object carries.
API_KEY = "test-api-key-0123456789"
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

    ``factories`` maps provider ids (as in ``models.yaml``) to ``PluginContext -> provider`` callables (no
    entry-point scan). The app is built as ``flow2api serve`` builds it: :func:`flow2api.startup.prepare` lays the
    data directory's stored admin changes over ``settings`` and builds the providers once, then ``create_app``.
    A plugin's conftest may override this fixture to give ``factories`` a default (its own providers).
    """

    async def start(settings: Settings, factories: Mapping[str, Callable[[PluginContext], Any]]) -> Gateway:
        prepared = prepare(settings, factories)
        app = create_app(prepared.settings, providers=prepared.providers)
        return Gateway(app, await aiohttp_server(app))

    return start


@dataclass
class FakeWorld:
    """The scripts of the two fake providers, ``start``, which serves gateways using them, and their catalog file."""

    image: Script
    video: Script
    start: Callable[..., Any]
    catalog: Path


@pytest.fixture
def fake(tmp_path: Path, start_gateway: Callable) -> FakeWorld:
    """``await fake.start(accounts=1, plugins=None, **sections)`` → a :class:`Gateway` of fake providers.

    Providers ``fake-image`` (default plan :func:`image_plan`) and ``fake-video`` (:func:`video_plan`), plus the
    factories in ``plugins`` (e.g. a third-party plugin's entry points), over the :func:`write_fake_catalog`
    catalog (``catalog={"path": …}`` picks another); ``accounts`` accounts ``acct0``, ``acct1`` … of
    :class:`FakeFamily` (only those missing from the data directory are added, so a restart on the same
    ``tmp_path`` keeps them). ``sections`` are :func:`make_settings` overrides. Every gateway started shares
    ``fake.image`` / ``fake.video`` and the data directory ``tmp_path / "data"``.
    """
    image, video = Script(default=image_plan()), Script(default=video_plan())
    catalog = write_fake_catalog(tmp_path / "fake-models.yaml")

    async def start(accounts: int = 1, plugins: Mapping[str, Callable[[PluginContext], Any]] | None = None,
                    **sections: dict[str, Any]) -> Gateway:
        sections["catalog"] = {"path": str(catalog), **sections.get("catalog", {})}
        factories = {
            "fake-image": lambda ctx: FakeProvider("fake-image", Kind.IMAGE, script=image),
            "fake-video": lambda ctx: FakeProvider("fake-video", Kind.VIDEO, script=video),
            **(plugins or {}),
        }
        gw = await start_gateway(make_settings(tmp_path, **sections), factories)
        for i in range(len(gw.pool.records()), accounts):
            await add_account(gw, "fake", {"token": f"acct{i}"})
        return gw

    return FakeWorld(image=image, video=video, start=start, catalog=catalog)


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


@pytest.fixture
async def gemini_sdk() -> AsyncIterator[Callable[..., Any]]:
    """``gemini_sdk(gateway, key=API_KEY, api_version="v1beta")`` → a ``google-genai`` async client on the gateway.

    ``api_version=None`` leaves the SDK's default (``v1`` in google-genai 3.x), as a user who sets only
    ``base_url`` and ``api_key`` gets. Every client opened is closed after the test.
    """
    from google import genai  # a test extra: imported only when the fixture is used
    from google.genai import types

    opened: list[Any] = []

    def make(gw: Gateway, key: str = API_KEY, api_version: str | None = "v1beta") -> Any:
        options = types.HttpOptions(base_url=gw.url, api_version=api_version, timeout=30_000)
        opened.append(genai.Client(api_key=key, http_options=options))
        return opened[-1].aio

    yield make
    for one in opened:
        await one.aio.aclose()
