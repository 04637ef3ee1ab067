"""The transport under every Flow call: headers, credentials, error mapping and field access (spec §1.5).

:class:`FlowTransport` is the base of :class:`~flow2api_videofx.client.FlowClient`.
Its one request method raises only :mod:`flow2api.errors` types: non-2xx replies
go through :func:`~flow2api_videofx.wire.classify`, transport failures are
mapped here (``raise … from exc``), and :func:`field` turns a missing field of a
2xx reply into ``UpstreamProtocolError`` naming the operation and the field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from flow2api.errors import (
    CredentialRejectedError,
    ProxyConnectError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api.plugin import PROXY_ERRORS
from flow2api_flowkit.wording import PROXY_HINT, UNREACHABLE_HINT, status_hint, transport_status
from flow2api_videofx.config import FlowConfig
from flow2api_videofx.wire import (
    RECAPTCHA_APPLICATION_TYPE, REFERER, SESSION_COOKIE, browser_headers, classify, failure,
)

log = logging.getLogger(__name__)


def field(data: Any, path: str, operation: str) -> Any:
    """``data[a][b]…`` for ``path`` "a.b…" (digits index lists); ``UpstreamProtocolError`` naming the field when absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current and current[part] is not None:
            current = current[part]
        else:
            raise UpstreamProtocolError(f"Flow {operation} reply has no '{path}' (upstream changed?)")
    return current


def recaptcha_context(token: str) -> dict[str, str]:
    """``clientContext.recaptchaContext`` (spec §1.6, HEAD)."""
    return {"token": token, "applicationType": RECAPTCHA_APPLICATION_TYPE}


class FlowTransport:
    """HTTP calls to one account's Flow endpoints through ``http`` (already routed via the right proxy).

    ``st`` authenticates labs (tRPC) calls, ``at`` the API calls;
    ``user_agent`` must be the one the reCAPTCHA token was solved with (spec
    §1.6): callers set it after each solve.
    """

    def __init__(
        self, http: aiohttp.ClientSession, config: FlowConfig, *, st: str | None = None, at: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.http = http
        self.config = config
        self._st = st
        self._at = at
        self.user_agent = user_agent or config.user_agent

    def __repr__(self) -> str:  # credentials must never reach a log line
        return f"{type(self).__name__}(api={self.config.api_base_url!r})"

    def use_credentials(self, *, st: str | None, at: str | None) -> None:
        """Switch to new credentials (after a refresh), keeping the User-Agent."""
        self._st, self._at = st, at

    def page_url(self, project_id: str) -> str:
        """The project page (Referer, reCAPTCHA ``websiteURL``), spec §1.1."""
        return f"{self.config.page_base_url}{project_id}"

    async def _call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        body: Any = None,
        auth: str,
        timeout: float,
        referer: str | None = None,
        allow_redirects: bool = True,
        generation: bool = False,
        project_id: str | None = None,
    ) -> tuple[int, Mapping[str, str], Any]:
        """One request → ``(status, headers, parsed JSON or None)``; 3xx returned as is, ≥ 400 raised typed.

        ``auth`` is ``"at"`` (Bearer), ``"st"`` (session cookie) or ``"none"``.
        Bodies are compact JSON with ``Content-Type: application/json`` (what
        HEAD actually sends, spec §1.5). Raises ``CredentialRejectedError`` when
        the needed credential is missing, ``ProxyConnectError`` for a broken
        proxy, ``UpstreamTimeoutError`` after ``timeout`` seconds,
        ``UpstreamUnavailableError`` for connection errors, what
        :func:`classify` says for ≥ 400, and ``UpstreamProtocolError`` for a
        2xx non-GET reply that is not JSON. ``project_id`` names the project the call is scoped to (a
        NOT_FOUND for it is a ``ProjectGoneError``).
        """
        headers = browser_headers(self.user_agent, referer=referer or REFERER, generation=generation)
        if auth == "at":
            if not self._at:
                raise CredentialRejectedError("the account has no access token")
            headers["authorization"] = f"Bearer {self._at}"
        elif auth == "st":
            if not self._st:
                raise CredentialRejectedError("the account has no session token")
            headers["Cookie"] = f"{SESSION_COOKIE}={self._st}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        try:
            async with self.http.request(
                method, url, data=data, headers=headers, allow_redirects=allow_redirects,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except PROXY_ERRORS as exc:
            raise ProxyConnectError(failure(operation, transport_status(exc), PROXY_HINT)) from exc
        except TimeoutError as exc:
            raise UpstreamTimeoutError(
                failure(operation, transport_status(exc, timeout), status_hint("DEADLINE_EXCEEDED"))) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(failure(operation, transport_status(exc), UNREACHABLE_HINT)) from exc
        try:
            parsed = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        if status >= 400:
            log.info("Flow %s answered HTTP %d", operation, status)
            raise classify(status, parsed, operation=operation, retry_after=resp_headers.get("Retry-After"),
                           project_id=project_id)
        if 300 <= status < 400:
            return status, resp_headers, parsed
        if parsed is None and method != "GET":
            raise UpstreamProtocolError(f"Flow {operation} answered with a body that is not JSON (upstream changed?)")
        return status, resp_headers, parsed
