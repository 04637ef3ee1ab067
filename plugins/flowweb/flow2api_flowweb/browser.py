"""The ``browser`` executor: prepared requests run by the MV3 extension in a signed-in Chrome profile (spec §12).

The extension (``plugins/flowweb/extension/``) opens a WebSocket to
``/api/flowweb/executor`` (the family's :meth:`BrowserHub.web_app`, mounted by the core) and
speaks JSON messages::

    browser → server  {"type": "hello", "token": "<[flowweb] executor_token>", "email": "<account>",
                       "version": "<extension version>", "userAgent": "<navigator.userAgent>"}
    server → browser  {"type": "welcome"}  or a close with code 4401 (bad token) / 4400 (bad hello)
    server → browser  {"type": "execute", "id", "rpcid", "freq", "sourcePath", "pagePath", "action", "xsrf"}
    browser → server  {"type": "result", "id", "status", "text"}  or  {"type": "result", "id", "error", "detail"}
    server → browser  {"type": "ping"}  every 20 s; browser → server {"type": "pong"}

``freq`` still holds the reCAPTCHA placeholder: the page mints the token for ``action`` and
substitutes it, reads ``SNlM0e``/``FdrFJe``/``cfb2h`` itself (``xsrf`` overrides ``SNlM0e``
after a challenge) and POSTs from the page with its cookies. Each connection is bound to the
account named in its hello; several browsers may connect (one or more per account).
``GET /api/flowweb/executors`` lists them (``Authorization: Bearer <executor_token>``).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from flow2api.errors import (
    CaptchaError,
    CredentialRejectedError,
    Flow2APIError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api.plugin import AccountSession
from flow2api_flowkit.wording import transport_status
from flow2api_flowweb.executors import Prepared, RawReply
from flow2api_flowweb.rpcs import failure

log = logging.getLogger(__name__)

PING_INTERVAL = 20.0  # below the 30 s idle limit of an MV3 service worker
HELLO_TIMEOUT = 10.0
MAX_MESSAGE = 64 * 1024 * 1024  # uploads travel as base64 inside f.req

# What to do when the browser path fails, in the words of the HTTP path (flow2api_flowkit.wording): the
# message is "flow.google.com could not <action> (rpc <id>, browser <what>[: <detail>]): <hint>".
NO_BROWSER_HINT = ("the account is served through its browser and none is connected; start its Chrome with the "
                   "flow2api extension ([flowweb] executor = browser), other accounts are tried first")
SLOW_BROWSER_HINT = ("the account's browser did not answer in time; check that its Chrome is awake and its Flow "
                     "tab loads, then retry (other accounts are tried first)")
GONE_BROWSER_HINT = ("the account's browser disconnected mid-request; the extension reconnects by itself, so "
                     "retry (other accounts are tried first)")
EXTENSION_HINT = "the flow2api extension failed in the account's browser; reload or update it (chrome://extensions)"
#: ``error`` of a browser ``result`` (extension/background.js) → (error class, what to do).
BROWSER_ERRORS: dict[str, tuple[type[Flow2APIError], str]] = {
    "signed-out": (CredentialRejectedError, "the account's browser is not signed in to Flow; sign in to Google "
                                            "with this account in that Chrome profile"),
    "captcha": (CaptchaError, "the Flow page in the account's browser could not mint a reCAPTCHA token; reload "
                              "its Flow tab (reCAPTCHA Enterprise loads on the project page)"),
    "no-bootstrap": (UpstreamUnavailableError, "the Flow page in the account's browser did not finish loading "
                                               "(no WIZ_global_data); reload its Flow tab, and update flow2api if "
                                               "it persists"),
    "network": (UpstreamUnavailableError, "the browser's request to Google failed; check that browser's network "
                                          "or proxy, then retry"),
}


class _Disconnected(Exception):
    """The connection closed while a request waited for its result (reworded with the rpc id by the waiter)."""


@dataclass(eq=False)
class BrowserConnection:
    """One connected extension, bound to the account ``email``."""

    email: str
    ws: web.WebSocketResponse
    user_agent: str
    version: str
    since: float = field(default_factory=time.time)
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0

    def describe(self) -> dict[str, Any]:
        """What the admin list shows (no secrets)."""
        return {"email": self.email, "since": self.since, "user_agent": self.user_agent, "version": self.version,
                "in_flight": len(self.pending), "requests": self.requests}

    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send an ``execute`` message and wait for its ``result``; ``UpstreamTimeoutError`` after ``timeout`` s,
        ``UpstreamUnavailableError`` when the connection drops first (both in words, naming the rpc id)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[message["id"]] = future
        try:
            await self.ws.send_str(json.dumps(message))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise UpstreamTimeoutError(failure(message["rpcid"], f"browser, {transport_status(exc, timeout)}",
                                               SLOW_BROWSER_HINT)) from exc
        except (ConnectionError, RuntimeError, _Disconnected) as exc:
            raise UpstreamUnavailableError(failure(message["rpcid"], "browser disconnected", GONE_BROWSER_HINT)) from exc
        finally:
            self.pending.pop(message["id"], None)
            self.requests += 1


class BrowserHub:
    """The connected browsers by account, and the WebSocket endpoint they connect to."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._connections: dict[str, list[BrowserConnection]] = {}
        self._turns = itertools.count()

    def connected(self, email: str) -> bool:
        """Whether a browser serves ``email`` now (cheap; used by ``can_serve``)."""
        return bool(self._connections.get(email.lower()))

    def connections(self) -> list[BrowserConnection]:
        """Every live connection."""
        return [c for group in self._connections.values() for c in group]

    def pick(self, email: str) -> BrowserConnection | None:
        """A connection for ``email`` (round robin when several browsers serve it), or ``None``."""
        group = self._connections.get(email.lower())
        return group[next(self._turns) % len(group)] if group else None

    async def close_all(self) -> None:
        """Close every connection (the extensions reconnect)."""
        for connection in self.connections():
            await connection.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server closing")

    def web_app(self) -> web.Application:
        """The sub-application the core mounts at ``/api/flowweb``: ``/executor`` (WebSocket) and ``/executors``."""
        app = web.Application()
        app.router.add_get("/executor", self.handle_ws)
        app.router.add_get("/executors", self.list_executors)
        return app

    def _authorized(self, token: object) -> bool:
        return bool(self._token) and isinstance(token, str) and hmac.compare_digest(token.encode(), self._token.encode())

    async def list_executors(self, request: web.Request) -> web.Response:
        """``GET /api/flowweb/executors`` → ``{"executors": [{email, since, user_agent, version, in_flight, requests}]}``.

        Needs ``Authorization: Bearer <[flowweb] executor_token>``; 401 otherwise.
        """
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self._authorized(token.strip()):
            return web.json_response({"error": "executor token required"}, status=401)
        return web.json_response({"executors": [c.describe() for c in self.connections()]})

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/flowweb/executor`` (WebSocket): hello, then execute/result messages until either side closes."""
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, autoping=True)
        await ws.prepare(request)
        try:
            first = await ws.receive(timeout=HELLO_TIMEOUT)
            hello = json.loads(first.data) if first.type == aiohttp.WSMsgType.TEXT else None
        except (TimeoutError, ValueError):
            hello = None
        if not isinstance(hello, dict) or hello.get("type") != "hello" or not isinstance(hello.get("email"), str):
            await ws.close(code=4400, message=b"expected a hello message")
            return ws
        if not self._authorized(hello.get("token")):
            log.warning("flowweb executor: a browser offered a wrong token (or [flowweb] executor_token is unset)")
            await ws.close(code=4401, message=b"bad executor token")
            return ws
        email = hello["email"].strip().lower()
        connection = BrowserConnection(email, ws, str(hello.get("userAgent") or ""), str(hello.get("version") or ""))
        self._connections.setdefault(email, []).append(connection)
        log.info("flowweb executor: browser connected for %s", email)
        pinger = asyncio.create_task(self._ping(ws))
        try:
            await ws.send_str(json.dumps({"type": "welcome"}))
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except ValueError:
                    continue
                if isinstance(data, dict) and data.get("type") == "result":
                    future = connection.pending.get(str(data.get("id")))
                    if future is not None and not future.done():
                        future.set_result(data)
        finally:
            pinger.cancel()
            group = self._connections.get(email, [])
            if connection in group:
                group.remove(connection)
            if not group:
                self._connections.pop(email, None)
            for future in connection.pending.values():
                if not future.done():
                    future.set_exception(_Disconnected())
            log.info("flowweb executor: browser for %s disconnected", email)
        return ws

    @staticmethod
    async def _ping(ws: web.WebSocketResponse) -> None:
        # Application-level messages (not protocol pings) keep an MV3 service worker alive (Chrome ≥ 116).
        while not ws.closed:
            await asyncio.sleep(PING_INTERVAL)
            try:
                await ws.send_str('{"type":"ping"}')
            except (ConnectionError, RuntimeError):
                return


class BrowserExecutor:
    """Runs prepared RPCs through the browser connected for the leased account."""

    name = "browser"

    def __init__(self, hub: BrowserHub, timeout: float) -> None:
        self.hub = hub
        self.timeout = timeout

    async def execute(
        self, account: AccountSession, http: aiohttp.ClientSession, prepared: Prepared, *, xsrf: str | None,
        timeout: float,
    ) -> RawReply:
        """Send to the account's browser; ``UpstreamUnavailableError`` when none is connected (the pool fails over).

        Waits ``[flowweb] browser_timeout`` seconds whatever ``timeout`` says: the browser may first
        have to open the project page and mint a token. Failures of the browser path are in words like the
        HTTP path's (rpc id in parentheses, then a hint): a ``result`` error by :data:`BROWSER_ERRORS`
        (``signed-out`` → ``CredentialRejectedError``, ``captcha`` → ``CaptchaError``, others and unknown ones
        → ``UpstreamUnavailableError``), ``UpstreamTimeoutError`` after the timeout, ``UpstreamUnavailableError``
        when the browser disconnects mid-request or answers without a reply. The account's e-mail is logged,
        never put in a message.
        """
        email = account.view.email
        rpc = prepared.rpc
        connection = self.hub.pick(email)
        if connection is None:
            log.info("flowweb executor: no browser is connected for %s", email)
            raise UpstreamUnavailableError(failure(rpc.rpcid, "no browser connected", NO_BROWSER_HINT))
        reply = await connection.request({
            "type": "execute", "id": uuid.uuid4().hex, "rpcid": rpc.rpcid, "freq": prepared.freq,
            "sourcePath": rpc.source_path, "pagePath": prepared.page_path, "action": prepared.action,
            "xsrf": xsrf,
        }, self.timeout)
        error = reply.get("error")
        if error:
            error_class, hint = BROWSER_ERRORS.get(str(error), (UpstreamUnavailableError, EXTENSION_HINT))
            raise error_class(failure(rpc.rpcid, f"browser {str(error)[:40]}", hint,
                                      detail=str(reply.get("detail") or "")[:200]))
        status = reply.get("status")
        if not isinstance(status, int) or not isinstance(reply.get("text"), str):
            raise UpstreamUnavailableError(failure(rpc.rpcid, "browser gave no reply", EXTENSION_HINT))
        return RawReply(status, reply["text"], None)
