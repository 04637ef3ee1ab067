"""`FlowWebEmulator`: the fake flow.google.com as one aiohttp application.

Routes under one base ``http://127.0.0.1:<port>`` (an optional ``/u/<N>`` prefix works on
pages and the RPC path, spec §1, §2.1):

* ``/``, ``/project/<pid>``, ``/about``, ``/404``, ``/accounts/SetOSID`` — pages (`pages.py`)
* ``/recaptcha/enterprise.js``, ``/recaptcha/enterprise/reload`` — the stand-in reCAPTCHA (`pages.py`)
* ``/_/AiSandboxAngularFrontend/data/batchexecute`` — the RPC endpoint (`rpc.py`)
* ``/fc/{image|video}/<id>`` — signed content host, flow-content.google's stand-in (`content.py`)
* ``/upload/v1/flow/upload/video/<pid>`` — the resumable video upload (`edits.py`)
* ``/solver/{createTask|getTaskResult}`` — an anti-captcha style solver (`pages.py`)
* ``/_emulator/...`` — control (`control.py`), neither recorded nor faulted

Middleware order: recording (outermost, so faulted requests are recorded too) → faults
(latency, status, expire_cookies, expire_xsrf).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from aiohttp import web

from .faults import FaultInjector
from .settings import CDN_KEY_NAME, EmulatorSettings
from .state import EmulatorAccount, IssuedToken, World, new_cookie_set
from .wire import HttpFailure, unusual_activity

log = logging.getLogger(__name__)

EMULATOR: Final = web.AppKey("flowweb_emulator", object)
RECORD: Final = web.RequestKey("flowweb_emulator_record", object)
RPC_PATH = re.compile(r"^(?:/u/\d+)?/_/AiSandboxAngularFrontend/data/batchexecute$")
MAX_BODY = 64 * 1024 * 1024


@dataclass
class RecordedCall:
    """One received request: ``operation`` is the rpc id (batchexecute) or a page/helper name;
    ``args`` the decoded positional arguments of the RPC; ``form`` the form fields; ``account``
    the e-mail the cookies name; ``status`` what was answered."""

    method: str
    path: str
    operation: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    args: Any = None
    account: str | None = None
    status: int | None = None
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def operation_of(request: web.Request) -> str:
    """The operation name a request is recorded and faulted under."""
    path = re.sub(r"^/u/\d+(?=/)", "", request.path)
    if RPC_PATH.match(request.path):
        return request.query.get("rpcids", "batchexecute")
    if path.startswith("/recaptcha/enterprise/reload"):
        return "reload"
    if path.startswith("/recaptcha/"):
        return "script"
    if path.startswith("/fc/"):
        return "content"
    if path.startswith("/solver/"):
        return path.rsplit("/", 1)[-1]
    if path.startswith("/accounts/SetOSID"):
        return "SetOSID"
    if path.startswith("/upload/"):
        return "uploadVideo"
    return "page"


class FlowWebEmulator:
    """State, fault rules and request log of one emulated flow.google.com, and the app that serves them.

    ``clock`` (Unix seconds) is injectable to expire XSRF values, tokens and URLs without sleeping.
    """

    def __init__(self, settings: EmulatorSettings | None = None, *, clock: Callable[[], float] | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.clock: Callable[[], float] = clock or time.time
        self.world = World()
        self.faults = FaultInjector(self.settings.fault_seed)
        self.requests: list[RecordedCall] = []
        self.solver_tasks: dict[str, dict[str, Any]] = {}
        self._secret = secrets.token_bytes(32)

    # -- accounts and tokens --------------------------------------------------------------------------------

    def add_account(self, email: str, *, tier: int = 1, credits: int = 1000, service_tier: int = 2,
                    name: str | None = None) -> EmulatorAccount:
        """A signed-in account with fresh random cookies (re-adding an e-mail updates tier/credits, keeps cookies)."""
        existing = self.world.accounts.get(email)
        if existing is not None:
            existing.tier, existing.credits, existing.service_tier = tier, credits, service_tier
            return existing
        account = EmulatorAccount(email=email, name=name or email.split("@")[0].title(), tier=tier, credits=credits,
                                  service_tier=service_tier, cookies=new_cookie_set(),
                                  f_sid=str(-secrets.randbelow(10**19)))
        account.rotate_xsrf(self.clock())
        self.world.accounts[email] = account
        return account

    def account(self, email: str) -> EmulatorAccount:
        """The account of ``email``; ``KeyError`` if unknown."""
        return self.world.accounts[email]

    def current_at(self, account: EmulatorAccount) -> str:
        """The account's ``at``, rotated first when stale (a page load issues a fresh one)."""
        if self.clock() - account.at_issued > self.settings.xsrf_lifetime_s:
            account.rotate_xsrf(self.clock())
        return account.at

    def mint_token(self, action: str, project: str | None) -> str:
        """A single-use reCAPTCHA token for ``action`` on the page of ``project`` (shaped like real ones)."""
        token = "03AFcWeA" + secrets.token_urlsafe(1800)
        self.world.tokens[token] = IssuedToken(action, project, self.clock())
        return token

    def consume_token(self, token: Any, *, action: str, project: str | None, account: str, operation: str) -> None:
        """Check and consume a generation token (spec §8); ``RpcError`` unusual activity when it fails."""
        issued = self.world.tokens.get(token) if isinstance(token, str) else None
        if issued is not None:
            issued_used, issued.used = issued.used, True
        if self.faults.take("captcha_fail", operation, account) is not None:
            raise unusual_activity("fault-injected")
        if issued is None:
            raise unusual_activity("unknown-token")
        if issued_used:
            raise unusual_activity("token-reused")
        if self.clock() - issued.issued > self.settings.token_ttl_s:
            raise unusual_activity("token-expired")
        if issued.action != action:
            raise unusual_activity(f"wrong-action: {issued.action} for {action}")
        if project is not None and issued.project is not None and issued.project != project:
            raise unusual_activity("wrong-project")

    # -- content URLs ---------------------------------------------------------------------------------------

    def _signature(self, kind: str, media_id: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{kind}/{media_id}:{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def content_url(self, request: web.Request, kind: str, media_id: str) -> str:
        """A signed ``/fc/<kind>/<id>?Expires&KeyName&Signature`` URL on the request's origin (spec §6.5)."""
        expires = int(self.clock() + self.settings.content_url_ttl_s)
        return (f"{request.url.origin()}/fc/{kind}/{media_id}?Expires={expires}&KeyName={CDN_KEY_NAME}"
                f"&Signature={self._signature(kind, media_id, expires)}")

    def content_allowed(self, kind: str, media_id: str, query: Any) -> bool:
        """Whether a content URL's signature matches and has not expired."""
        try:
            expires = int(query.get("Expires", ""))
        except ValueError:
            return False
        good = hmac.compare_digest(str(query.get("Signature", "")), self._signature(kind, media_id, expires))
        return good and self.clock() <= expires

    # -- recording ------------------------------------------------------------------------------------------

    def record(self, call: RecordedCall) -> None:
        self.requests.append(call)
        if len(self.requests) > self.settings.max_recorded:
            del self.requests[: max(1, self.settings.max_recorded // 10)]

    def calls(self, operation: str) -> list[RecordedCall]:
        """Recorded requests of one operation (``calls("ogiZ0b")``, ``calls("page")``)."""
        return [r for r in self.requests if r.operation == operation]

    # -- wiring ---------------------------------------------------------------------------------------------

    def sections(self, base: str) -> dict[str, dict[str, Any]]:
        """flow2api settings sections pointing the flowweb plugin at this emulator served at ``base``."""
        base = base.rstrip("/")
        return {
            "flowweb": {"base_url": base, "poll_interval": 0.05},
            "flowweb_captcha": {
                "captcha_method": "yescaptcha", "yescaptcha_base_url": f"{base}/solver",
                "yescaptcha_api_key": self.settings.solver_client_key, "solver_poll_interval": 0.01,
            },
        }

    def app(self) -> web.Application:
        """A new application serving this emulator."""
        from .content import serve_content
        from .control import add_control_routes
        from .edits import upload_video
        from .pages import (about, enterprise_js, not_found_page, page, recaptcha_reload, set_osid, solver)
        from .rpc import batchexecute

        app = web.Application(middlewares=[_recording, _faults], client_max_size=MAX_BODY)
        app[EMULATOR] = self
        add_control_routes(app)
        app.router.add_post(r"/_/AiSandboxAngularFrontend/data/batchexecute", batchexecute)
        app.router.add_post(r"/u/{n:\d+}/_/AiSandboxAngularFrontend/data/batchexecute", batchexecute)
        app.router.add_get("/recaptcha/enterprise.js", enterprise_js)
        app.router.add_post("/recaptcha/enterprise/reload", recaptcha_reload)
        app.router.add_get("/solver/{method}", solver)
        app.router.add_post("/solver/{method}", solver)
        app.router.add_get("/fc/{kind:image|video}/{media_id}", serve_content)
        app.router.add_post("/upload/v1/flow/upload/video/{project}", upload_video)
        app.router.add_get("/accounts/SetOSID", set_osid)
        app.router.add_get("/about", about)
        app.router.add_get("/404", not_found_page)
        app.router.add_get("/", page)
        app.router.add_get("/{tail:(u/\\d+/)?project/.*}", page)
        app.router.add_get(r"/u/{n:\d+}/", page)
        return app


def emulator_of(request: web.Request) -> FlowWebEmulator:
    """The emulator serving ``request``."""
    return request.app[EMULATOR]  # type: ignore[return-value]


def request_account(request: web.Request) -> EmulatorAccount | None:
    """The account the request's cookies name (valid or not)."""
    return emulator_of(request).world.account_by_cookies(dict(request.cookies))


@web.middleware
async def _recording(request: web.Request, handler):  # type: ignore[no-untyped-def]
    if request.path.startswith("/_emulator"):
        return await handler(request)
    emulator = emulator_of(request)
    account = request_account(request)
    call = RecordedCall(request.method, request.path, operation_of(request), dict(request.query),
                        {k.lower(): v for k, v in request.headers.items()}, account=account.email if account else None)
    emulator.record(call)
    request[RECORD] = call
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        call.status = exc.status
        raise
    call.status = response.status
    return response


@web.middleware
async def _faults(request: web.Request, handler):  # type: ignore[no-untyped-def]
    call: RecordedCall | None = request.get(RECORD)  # type: ignore[assignment]
    if call is None:
        return await handler(request)
    emulator = emulator_of(request)
    faults, operation, email = emulator.faults, call.operation, call.account
    rule = faults.take("latency", operation, email)
    if rule is not None:
        await asyncio.sleep(rule.latency_ms / 1000)
    if email is not None:
        if faults.take("expire_cookies", operation, email) is not None:
            emulator.account(email).cookies_valid = False
        if faults.take("expire_xsrf", operation, email) is not None:
            emulator.account(email).rotate_xsrf(emulator.clock())
    rule = faults.take("status", operation, email)
    if rule is not None and rule.status is not None:
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
        if RPC_PATH.match(request.path):
            entries = [["er", None, None, None, None, rule.status, "generic"]]
            return HttpFailure(rule.status, "fault-injected", entries=entries, headers=headers).response()
        return web.Response(status=rule.status, text="Injected failure", headers=headers)
    return await handler(request)


@contextlib.asynccontextmanager
async def serve(emulator: FlowWebEmulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``emulator`` on ``host:port`` (0 = a free port) for the block; yields the base URL."""
    runner = web.AppRunner(emulator.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
