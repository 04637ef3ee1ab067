"""How a prepared RPC reaches Flow: the executor interface and the direct ``http`` executor (spec §12).

An executor takes a :class:`Prepared` RPC (``f.req`` with the reCAPTCHA placeholder, page
path, reCAPTCHA action or ``None`` for reads) and returns the raw reply; parsing and error
classification are the client's, identical for every executor. Two implementations:

* :class:`HttpExecutor` — aiohttp with the account's cookie jar, the ``at``/``f.sid``/``bl``
  its bootstrap stored, and a solver token for ``websiteURL = <cookie_url>/project/<pid>``
  (spec §12 shape 2). Reads are reported to work this way; **writes are experimental**
  (spec §8: script-sent writes may be flagged as unusual activity).
* ``browser`` (:mod:`flow2api_flowweb.browser`) — the MV3 extension in a signed-in Chrome
  profile mints the token and sends the request from the project page (spec §12 shape 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

from flow2api.errors import (
    CredentialRejectedError,
    ProxyConnectError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api.plugin import AccountSession, AccountUpdate
from flow2api_flowweb.config import FlowWebConfig
from flow2api_flowweb.cookies import absorb_set_cookies, cookie_header, dump_jar, load_jar
from flow2api_flowweb.envelope import (
    RPC_PATH,
    ReqIds,
    RpcRequest,
    build_body,
    build_freq,
    build_query,
    fill_captcha,
    request_headers,
)
from flow2api_flowkit.captcha_chain import TokenChain
from flow2api_flowkit.wording import PROXY_HINT, UNREACHABLE_HINT, status_hint, transport_status
from flow2api_flowweb.rpcs import failure

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One RPC ready to execute: ``project_id`` names the page it is sent from (and the token is minted on)."""

    rpc: RpcRequest
    project_id: str | None = None
    action: str | None = None

    @property
    def page_path(self) -> str:
        """The page the request comes from: ``/project/<pid>`` (which loads reCAPTCHA, spec §8), else ``/``."""
        return f"/project/{self.project_id}" if self.project_id else "/"

    @property
    def freq(self) -> str:
        """``f.req`` with the reCAPTCHA placeholder still in place."""
        return build_freq([self.rpc])


@dataclass(frozen=True, slots=True)
class RawReply:
    """What an executor got back: HTTP status, body text, ``Retry-After`` header when present."""

    status: int
    text: str
    retry_after: str | None = None

    def __repr__(self) -> str:
        return f"RawReply(status={self.status}, {len(self.text)} chars)"


class Executor(Protocol):
    """Sends one prepared RPC for one account. ``xsrf`` overrides ``at`` after an XSRF challenge (spec §2.5).

    Raises only :mod:`flow2api.errors` types (transport failures mapped at the boundary).
    """

    name: str

    async def execute(
        self, account: AccountSession, http: aiohttp.ClientSession, prepared: Prepared, *, xsrf: str | None,
        timeout: float,
    ) -> RawReply: ...


class HttpExecutor:
    """Direct requests with the cookie jar (spec §2.1–§2.5, §12 shape 2); reCAPTCHA tokens from ``tokens``."""

    name = "http"

    def __init__(self, config: FlowWebConfig, tokens: TokenChain) -> None:
        self.config = config
        self.tokens = tokens
        self._reqids: dict[int, ReqIds] = {}
        self._warned = False

    async def execute(
        self, account: AccountSession, http: aiohttp.ClientSession, prepared: Prepared, *, xsrf: str | None,
        timeout: float,
    ) -> RawReply:
        """POST the RPC; stores a new ``at`` (after a challenge) and rotated cookies through ``account.save``."""
        view = account.view
        at = xsrf or view.secrets.get("at")
        f_sid, bl = view.state.get("f_sid"), view.state.get("bl")
        if not at or not f_sid or not bl:
            raise CredentialRejectedError("the account has no page bootstrap (at, f.sid, bl) yet")
        if xsrf:
            await account.save(AccountUpdate(secrets={"at": xsrf}))
        rpc = prepared.rpc
        freq = prepared.freq
        user_agent = self.config.user_agent
        if prepared.action:
            if not self._warned:
                self._warned = True
                log.warning("flowweb: sending generation RPCs with the http executor is experimental (spec §8); "
                            "the browser executor is the reliable path")
            page_url = self.config.cookie_url.rstrip("/") + prepared.page_path
            solved = await self.tokens.token(http, page_url=page_url, action=prepared.action, user_agent=user_agent)
            if solved is not None and solved.user_agent:
                user_agent = solved.user_agent
            freq = fill_captcha(freq, solved.token if solved else "")
        reqids = self._reqids.setdefault(view.id, ReqIds())
        query = build_query(
            [rpc.rpcid], source_path=rpc.source_path, bl=str(bl), f_sid=str(f_sid),
            hl=str(view.state.get("hl") or self.config.hl), reqid=reqids.next(),
        )
        origin = self.config.origin
        headers = request_headers(origin, rpc.source_path, user_agent)
        jar = load_jar(view.secrets.get("cookies", ""))
        cookie_url = self.config.cookie_url.rstrip("/") + RPC_PATH
        cookie = cookie_header(jar, cookie_url)
        if cookie:
            headers["Cookie"] = cookie
        try:
            async with http.post(
                origin + RPC_PATH, params=query, data=build_body(freq, at).encode(), headers=headers,
                allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                text = await resp.text(errors="replace")
                reply = RawReply(resp.status, text, resp.headers.get("Retry-After"))
                set_cookies = resp.headers.getall("Set-Cookie", [])
        except (ProxyConnectionError, ProxyTimeoutError, ProxyError, aiohttp.ClientProxyConnectionError) as exc:
            raise ProxyConnectError(failure(rpc.rpcid, transport_status(exc), PROXY_HINT)) from exc
        except TimeoutError as exc:
            raise UpstreamTimeoutError(
                failure(rpc.rpcid, transport_status(exc, timeout), status_hint("DEADLINE_EXCEEDED"))) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(failure(rpc.rpcid, transport_status(exc), UNREACHABLE_HINT)) from exc
        if absorb_set_cookies(jar, cookie_url, set_cookies):
            await account.save(AccountUpdate(secrets={"cookies": dump_jar(jar)}))
        return reply
