"""Helpers for the VideoFX plugin tests: the emulator handle, a gateway handle, a fake account session, media checks."""

from __future__ import annotations

import base64
import functools
import io
import re
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from flow2api_videofx import VideoFXImageProvider, VideoFXVideoProvider
from flow2api_videofx.client import FlowClient
from flow2api_flowkit.config import CaptchaConfig
from flow2api_videofx.config import FlowConfig
from flow2api_videofx.emulator import FlowEmulator
from openai import AsyncOpenAI
from PIL import Image

from flow2api.plugin import AccountUpdate, AccountView
from flow2api.testing import API_KEY
from flow2api.testing import Gateway as CoreGateway

__all__ = ["API_KEY"]

#: The providers of the repo's ``models.yaml``, as ``create_app(providers=build_providers(…))`` takes them.
VIDEOFX_FACTORIES = {"videofx-image": VideoFXImageProvider, "videofx-video": VideoFXVideoProvider}
VIDEO_TAG = re.compile(r"<video src='([^']+)'")


@dataclass
class Upstream:
    """The emulator and where it listens."""

    emulator: FlowEmulator
    server: TestServer

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def flow_config(self, **overrides: Any) -> FlowConfig:
        """A ``[flow]`` config pointing at this emulator, fast polling."""
        return FlowConfig(**flow_sections(self, flow=overrides)["flow"])

    def captcha_config(self, **overrides: Any) -> CaptchaConfig:
        """A ``[captcha]`` config using the emulator's solver."""
        return CaptchaConfig(**flow_sections(self, captcha=overrides)["captcha"])

    def sections(self) -> dict[str, dict[str, Any]]:
        """``[flow]`` and ``[captcha]`` as the gateway tests use them: 50 ms polls, the default reCAPTCHA retry delay."""
        sections = flow_sections(self, flow={"poll_interval": 0.05}, captcha={"solver_poll_interval": 0.01})
        del sections["flow"]["captcha_retry_delay"]
        return sections


def flow_sections(upstream: Upstream, *, flow: dict[str, Any] | None = None,
                  captcha: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``[flow]`` and ``[captcha]`` for the emulator: 20 ms polls, no reCAPTCHA retry delay, fast solver polling."""
    return {
        "flow": {
            "labs_base_url": f"{upstream.base}/fx/api", "api_base_url": f"{upstream.base}/v1",
            "poll_interval": 0.02, "captcha_retry_delay": 0, **(flow or {}),
        },
        "captcha": {
            "captcha_method": "yescaptcha", "yescaptcha_base_url": f"{upstream.base}/solver",
            "yescaptcha_api_key": upstream.emulator.settings.solver_client_key, "solver_poll_interval": 0.005,
            **(captcha or {}),
        },
    }


@dataclass
class Gateway(CoreGateway):
    """A running flow2api server (:class:`flow2api.testing.Gateway`) wired to the emulator."""

    upstream: Upstream
    _sdk: AsyncOpenAI | None = None

    async def add_account(self, email: str, *, tier: str = "PAYGATE_TIER_ONE", credits: int = 100_000) -> int:
        """Create the account in the emulator and add it to the pool (``flow2api accounts add``); returns its id."""
        account = self.upstream.emulator.add_account(email, tier=tier, credits=credits)
        record = await self.pool.add("videofx", {"st": account.st})
        return record.id

    def sdk(self) -> AsyncOpenAI:
        """The official openai SDK pointed at this gateway (no SDK retries), one client per gateway.

        Reused because building one loads the CA bundle (~0.1 s each).
        """
        if self._sdk is None:
            self._sdk = AsyncOpenAI(base_url=f"{self.url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
        return self._sdk

    def record(self, account_id: int) -> Any:
        """The pool's current record of an account."""
        return next(r for r in self.pool.records() if r.id == account_id)


@dataclass
class FakeAccount:
    """An :class:`~flow2api.plugin.AccountSession` kept in memory (provider-level tests): ``saves`` lists updates."""

    _view: AccountView
    saves: list[AccountUpdate] = field(default_factory=list)

    @property
    def view(self) -> AccountView:
        return self._view

    async def save(self, update: AccountUpdate) -> None:
        self.saves.append(update)
        changes: dict[str, Any] = {k: getattr(update, k) for k in ("email", "tier", "credits") if getattr(update, k) is not None}
        secrets = {**self._view.secrets, **(update.secrets or {})}
        state = {**self._view.state, **(update.state or {})}
        projects = self._view.projects + tuple(p for p in (update.new_projects or {}) if p not in self._view.projects)
        projects = tuple(p for p in projects if p not in (update.gone_projects or ()))
        self._view = replace(self._view, secrets=secrets, state=state, projects=projects, **changes)


async def fake_account(upstream: Upstream, http: aiohttp.ClientSession, email: str = "bob@example.com",
                       tier: str = "PAYGATE_TIER_ONE", credits: int = 100_000) -> FakeAccount:
    """An emulator account signed in (ST → AT) as a :class:`FakeAccount` with id 1."""
    account = upstream.emulator.add_account(email, tier=tier, credits=credits)
    session = await FlowClient(http, upstream.flow_config(), st=account.st).auth_session()
    return FakeAccount(AccountView(
        id=1, family="videofx", email=email, secrets={"st": account.st, "at": session.access_token},
        state={"at_expires": session.expires_at}, tier=tier, credits=credits,
    ))


def png(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 36)) -> bytes:
    """A small real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def video_url_of(content: str) -> str:
    """The ``src`` of the ``<video>`` tag in a chat answer."""
    match = VIDEO_TAG.search(content or "")
    assert match, content
    return match.group(1)


async def fetch(url: str) -> tuple[str, bytes]:
    """GET a URL (a gateway media link) → (content type, body); asserts 200."""
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, url
        return resp.content_type, await resp.read()


def is_mp4(data: bytes) -> bool:
    """An ISO BMFF file starts with a box whose type is ``ftyp``."""
    return data[4:8] == b"ftyp"


def user(text: str, *image_urls: str) -> list[dict[str, Any]]:
    """One chat message with text and ``image_url`` parts."""
    if not image_urls:
        return [{"role": "user", "content": text}]
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in image_urls]
    return [{"role": "user", "content": parts}]


@functools.lru_cache(maxsize=1)
def _catalog() -> dict[str, Any]:
    import yaml

    from flow2api.testing import REPO

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((REPO / "models.yaml").read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader


def route_options(model_id: str) -> dict[str, Any]:
    """The ``videofx-*`` route options of a public model in the repo's ``models.yaml``."""
    entry = next(m for m in _catalog()["models"] if m["id"] == model_id)
    return dict(next(r["options"] for r in entry["routes"] if r["provider"].startswith("videofx-")))


async def run_events(source: Any) -> list[Any]:
    """Every event of a provider's async generator."""
    return [event async for event in source]
