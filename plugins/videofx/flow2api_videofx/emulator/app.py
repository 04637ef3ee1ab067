"""`FlowEmulator`: the whole fake of Google Labs Flow as one aiohttp application.

URL layout under one base ``http://127.0.0.1:<port>`` (see `EmulatorURLs`):

* ``/fx/api`` — labs base (`labs.py`): ``/auth/session``, ``/trpc/<procedure>``
* ``/v1`` — API base (`api.py`): every aisandbox operation, colon paths included
* ``/cdn/{image|video}/<id>`` — signed media CDN (`media.py`)
* ``/solver`` — anti-captcha style reCAPTCHA solver (`captcha.py`)
* ``/_emulator`` — control endpoints (`control.py`)

Middleware order (outermost first): recording (classifies and records every request, so even
faulted or failed ones are in `FlowEmulator.requests`) → errors (renders `EmulatorError`s, also
those raised by the fault layer) → faults (latency / expire_at / status / bad_shape around the
handler).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from .api import dispatch
from .captcha import CaptchaService, solver_endpoint
from .catalog import VideoModels
from .control import add_control_routes
from .errors import error_middleware
from .faults import FaultInjector, fault_middleware
from .keys import EMULATOR
from .labs import auth_session, trpc
from .media import MediaUrls, serve_cdn
from .recording import RecordedRequest, recording_middleware
from .settings import EmulatorAccount, EmulatorSettings, generate_session_token
from .state import World

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024  # image uploads arrive base64-encoded in JSON


@dataclass(frozen=True)
class EmulatorURLs:
    """The base URLs a client is configured with, for an emulator served at ``base``."""

    base: str
    labs_base_url: str
    api_base_url: str
    solver_base_url: str

    @classmethod
    def for_base(cls, base: str) -> "EmulatorURLs":
        base = base.rstrip("/")
        return cls(base, f"{base}/fx/api", f"{base}/v1", f"{base}/solver")


class FlowEmulator:
    """State, fault rules and request log of one emulated Flow, and the app that serves them.

    ``clock`` (Unix seconds) is injectable so tests can expire ATs, tokens and URLs without sleeping.
    """

    def __init__(self, settings: EmulatorSettings | None = None, accounts: list[EmulatorAccount] | None = None,
                 *, clock: Callable[[], float] | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.clock: Callable[[], float] = clock or time.time
        self.world = World()
        self.captcha = CaptchaService(self.settings, self.clock)
        self.faults = FaultInjector(self.settings.fault_seed)
        self.media_urls = MediaUrls(self.settings, self.clock)
        self.video_models = VideoModels.load()
        self.requests: list[RecordedRequest] = []
        for account in accounts or []:
            self.world.add_account(account)

    @property
    def accounts(self) -> dict[str, EmulatorAccount]:
        """Known accounts by e-mail."""
        return self.world.accounts

    def add_account(self, email: str, *, tier: str = "PAYGATE_TIER_ONE", credits: int = 1000,
                    name: str | None = None) -> EmulatorAccount:
        """Create an account with a fresh random ST (or update tier/credits/name of an existing one,
        keeping its ST). Raises ValueError on an unknown tier."""
        existing = self.world.accounts.get(email)
        account = EmulatorAccount(
            email=email, name=name or (existing.name if existing else email.split("@")[0].replace(".", " ").title()),
            st=existing.st if existing else generate_session_token(), tier=tier, credits=credits)
        return self.world.add_account(account)

    def record(self, request: RecordedRequest) -> None:
        """Append to `requests`, dropping the oldest tenth once ``max_recorded_requests`` is exceeded."""
        self.requests.append(request)
        limit = self.settings.max_recorded_requests
        if len(self.requests) > limit:
            del self.requests[: max(1, limit // 10)]

    def calls(self, operation: str) -> list[RecordedRequest]:
        """Recorded requests of one operation (names in `operations`), e.g. ``calls("batchGenerateImages")``."""
        return [r for r in self.requests if r.operation == operation]

    @staticmethod
    def urls(base: str) -> EmulatorURLs:
        """Client base URLs for an emulator served at ``base`` (e.g. ``str(server.make_url(""))``)."""
        return EmulatorURLs.for_base(base)

    def app(self) -> web.Application:
        """A new `web.Application` serving this emulator (several may share one emulator)."""
        app = web.Application(
            middlewares=[recording_middleware, error_middleware, fault_middleware],
            client_max_size=MAX_BODY_BYTES,
        )
        app[EMULATOR] = self
        app.router.add_route("*", "/fx/api/auth/session", auth_session)
        app.router.add_route("*", "/fx/api/trpc/{procedure:.+}", trpc)
        app.router.add_route("*", "/v1{tail:.*}", dispatch)
        app.router.add_route("*", "/cdn/{kind:image|video}/{media_id}", serve_cdn)
        app.router.add_route("*", "/solver/{method}", solver_endpoint)
        add_control_routes(app)
        return app


def create_app(settings: EmulatorSettings | None = None,
               accounts: list[EmulatorAccount] | None = None) -> web.Application:
    """A new emulator's application; the `FlowEmulator` is ``app[EMULATOR]``."""
    return FlowEmulator(settings, accounts).app()
