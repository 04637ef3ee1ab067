"""The batchexecute envelope: building one request and reading one reply (spec §2).

Request (spec §2.1–§2.4)::

    POST {base}/_/AiSandboxAngularFrontend/data/batchexecute
         ?rpcids=<id>&source-path=<page path>&bl=<build>&f.sid=<session>&hl=<lang>&_reqid=<n>&rt=c
    Content-Type: application/x-www-form-urlencoded;charset=UTF-8     X-Same-Domain: 1
    f.req=[[["<id>","<compact JSON of the positional args>",null,"generic"]]]&at=<SNlM0e>

Reply (spec §2.6–§2.7): ``)]}'``, a blank line, then (length line, JSON line) pairs whose
lengths are not trusted. Entries: ``["wrb.fr", id, "<payload JSON>", null, null, <status|null>,
"generic"]``, ``["er", …, <code at 5 or 6>]``, ``["xsrf", "<new at>"]``; anything else is ignored.

Errors become :mod:`flow2api.errors` types here and in :mod:`flow2api_flowweb.statuses` and nowhere else:
:func:`payload_of` types the failures of a whole reply (HTTP 401/403/429/5xx, ``er`` frames, a missing
entry → ``UpstreamProtocolError`` naming the RPC; a missing slot likewise, :func:`slot`), and
:func:`~flow2api_flowweb.statuses.classify_status` the status of one ``wrb.fr`` entry (its table). An XSRF
challenge is :class:`XsrfChallenge` (not an error of the core: the client retries with the new token).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flow2api.errors import (
    CaptchaError,
    CredentialRejectedError,
    UpstreamProtocolError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from flow2api_flowkit.wording import CAPTCHA_HINT, CHANGED_HINT, status_hint
from flow2api_flowweb.rpcs import COOKIES_HINT, failure
from flow2api_flowweb.statuses import UNUSUAL_ACTIVITY, SessionExpiredError, classify_status, walk

RPC_PATH = "/_/AiSandboxAngularFrontend/data/batchexecute"
CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
#: Stands where the reCAPTCHA token goes until an executor mints one (flowkit's convention, spec §3.1).
CAPTCHA_PLACEHOLDER = "__CAPTCHA__"
XSSI_PREFIX = ")]}'"


class XsrfChallenge(Exception):
    """The reply is an XSRF challenge (HTTP 400 + ``["xsrf", token]``, spec §2.5): repeat with ``token`` as ``at``.

    Never rendered to a client; ``str()`` carries no token.
    """

    def __init__(self, token: str | None) -> None:
        super().__init__("batchexecute answered with an XSRF challenge")
        self.token = token


@dataclass(frozen=True, slots=True)
class RpcRequest:
    """One RPC of a batchexecute request: its id, positional arguments (jspb arrays) and page path."""

    rpcid: str
    args: Any
    source_path: str | None = None

    def __repr__(self) -> str:  # the args may carry a reCAPTCHA token
        return f"RpcRequest({self.rpcid!r}, source_path={self.source_path!r})"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def build_freq(rpcs: Sequence[RpcRequest]) -> str:
    """``f.req``: ``[[[id, "<args JSON>", null, "generic"], …]]`` in compact UTF-8 JSON (spec §2.4)."""
    return _compact([[[r.rpcid, _compact(r.args), None, "generic"] for r in rpcs]])


def fill_captcha(freq: str, token: str) -> str:
    """``freq`` with the placeholder replaced by ``token``, escaped for its two JSON levels."""
    inner = json.dumps(token, ensure_ascii=False)[1:-1]
    outer = json.dumps(inner, ensure_ascii=False)[1:-1]
    return freq.replace(CAPTCHA_PLACEHOLDER, outer)


class ReqIds:
    """The ``_reqid`` sequence of one page session: a random 4-digit start, then +100000 per request.

    That is the stepping of Google's web clients; the spec found no sign the server checks it (§2.1).
    """

    def __init__(self, start: int | None = None) -> None:
        self._next = start if start is not None else random.randint(1000, 9999)

    def next(self) -> int:
        """The ``_reqid`` for the next request."""
        value = self._next
        self._next += 100000
        return value


def build_query(
    rpcids: Sequence[str], *, source_path: str | None, bl: str, f_sid: str, hl: str, reqid: int,
) -> list[tuple[str, str]]:
    """Query parameters in the web app's order (spec §2.1); ``source-path`` left off when ``None``."""
    query = [("rpcids", ",".join(rpcids))]
    if source_path is not None:
        query.append(("source-path", source_path))
    query += [("bl", bl), ("f.sid", f_sid), ("hl", hl), ("_reqid", str(reqid)), ("rt", "c")]
    return query


def build_body(freq: str, at: str | None) -> str:
    """The form body ``f.req=…&at=…`` (``at`` left off when ``None``; spec §2.4–§2.5)."""
    fields = [("f.req", freq)]
    if at is not None:
        fields.append(("at", at))
    return urlencode(fields)


def request_headers(origin: str, source_path: str | None, user_agent: str | None = None) -> dict[str, str]:
    """Headers of an off-browser call (spec §2.2): form content type, ``X-Same-Domain``, Origin/Referer, fetch metadata."""
    headers = {
        "Content-Type": CONTENT_TYPE,
        "X-Same-Domain": "1",
        "Origin": origin,
        "Referer": f"{origin}{source_path or '/'}",
        "Accept": "*/*",
        "Accept-Language": "en-US,en;q=0.9",
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "same-origin",
    }
    if user_agent:
        headers["User-Agent"] = user_agent
    return headers


# -- replies -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RpcResult:
    """One ``wrb.fr`` entry: ``payload`` is the decoded ``entry[2]`` (``None`` when absent), ``status`` ``entry[5]``."""

    rpcid: str
    payload: Any
    status: Any


@dataclass(frozen=True, slots=True)
class Reply:
    """A parsed batchexecute reply: HTTP ``status``, every entry, results by rpcid, challenge token, ``er`` code."""

    status: int
    entries: list[list[Any]]
    results: dict[str, list[RpcResult]] = field(default_factory=dict)
    xsrf: str | None = None
    has_xsrf: bool = False
    er_code: int | None = None
    raw: str = ""


def iter_chunks(text: str) -> list[Any]:
    """The JSON chunks of a reply body, ignoring the declared lengths (spec §2.6: they can be off by 1–2).

    Skips the anti-XSSI line; every ``[`` that starts a decodable JSON value is one chunk,
    anything else (length lines, whitespace, garbage) is skipped.
    """
    if text.startswith(XSSI_PREFIX):
        text = text[len(XSSI_PREFIX):]
    decoder = json.JSONDecoder()
    chunks: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find("[", i)
        if j < 0:
            break
        try:
            value, end = decoder.raw_decode(text, j)
        except json.JSONDecodeError:
            i = j + 1
            continue
        chunks.append(value)
        i = end
    return chunks


def _entries(chunk: Any) -> list[list[Any]]:
    if not isinstance(chunk, list) or not chunk:
        return []
    if isinstance(chunk[0], str):  # a bare entry rather than a list of entries
        return [chunk]
    return [e for e in chunk if isinstance(e, list) and e and isinstance(e[0], str)]


def parse_reply(status: int, text: str) -> Reply:
    """Parse a reply body (any status) into a :class:`Reply`; unknown entries and extra slots are kept, not fatal."""
    entries = [e for chunk in iter_chunks(text) for e in _entries(chunk)]
    results: dict[str, list[RpcResult]] = {}
    xsrf: str | None = None
    has_xsrf = False
    er_code: int | None = None
    for entry in entries:
        kind = entry[0]
        if kind == "wrb.fr" and len(entry) >= 2:
            payload = None
            raw = entry[2] if len(entry) > 2 else None
            if isinstance(raw, str):
                try:
                    payload = json.loads(raw)
                except json.JSONDecodeError:
                    payload = raw
            status_slot = entry[5] if len(entry) > 5 else None
            rpcid = entry[1] if isinstance(entry[1], str) else ""
            results.setdefault(rpcid, []).append(RpcResult(rpcid, payload, status_slot))
        elif kind == "xsrf":
            has_xsrf = True
            xsrf = entry[1] if len(entry) > 1 and isinstance(entry[1], str) else None
        elif kind == "er":
            for index in (5, 6):
                if len(entry) > index and isinstance(entry[index], int) and not isinstance(entry[index], bool):
                    er_code = entry[index]
                    break
            else:
                er_code = er_code or 0
    return Reply(status, entries, results, xsrf, has_xsrf, er_code, text)


def _retry_after(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None


def payload_of(reply: Reply, rpcid: str, *, retry_after: str | None = None) -> Any:
    """The decoded payload of ``rpcid`` in ``reply``; raises the typed error the reply amounts to.

    Order: XSRF challenge (:class:`XsrfChallenge`), HTTP 401 / ``er`` 401 (credential), HTTP 429
    (rate limited, ``Retry-After`` kept), other HTTP errors, then the ``wrb.fr`` entry's status,
    then a missing entry (``UpstreamProtocolError``; ``CaptchaError`` when the raw text names
    unusual activity, spec §2.7).
    """
    if reply.has_xsrf and rpcid not in reply.results:
        raise XsrfChallenge(reply.xsrf)
    if reply.status == 401 or reply.er_code in (401, 16):
        raise SessionExpiredError(failure(rpcid, "HTTP 401", COOKIES_HINT))
    if reply.status == 429:
        raise UpstreamRateLimitedError(failure(rpcid, "HTTP 429", status_hint("RESOURCE_EXHAUSTED")),
                                       retry_after=_retry_after(retry_after))
    if reply.status == 403:
        raise CredentialRejectedError(failure(rpcid, "HTTP 403", status_hint("PERMISSION_DENIED")))
    if reply.status >= 500:
        raise UpstreamUnavailableError(failure(rpcid, f"HTTP {reply.status}", status_hint("UNAVAILABLE")))
    if reply.status >= 400:
        raise UpstreamProtocolError(failure(rpcid, f"HTTP {reply.status}", CHANGED_HINT))
    found = reply.results.get(rpcid)
    if not found:
        if UNUSUAL_ACTIVITY in reply.raw:
            raise CaptchaError(failure(rpcid, UNUSUAL_ACTIVITY, CAPTCHA_HINT))
        if reply.er_code is not None:
            raise UpstreamUnavailableError(failure(rpcid, f"error frame {reply.er_code}", status_hint("UNAVAILABLE")))
        raise UpstreamProtocolError(f"Flow {rpcid} reply has no wrb.fr entry for {rpcid} (upstream changed?)")
    result = found[0]
    if result.status is not None and result.payload is None:
        raise classify_status(rpcid, result.status)
    return result.payload


_MISSING = object()


def slot(value: Any, *path: int, rpc: str, what: str, base: str = "payload") -> Any:
    """``value[p0][p1]…``; ``UpstreamProtocolError`` naming ``rpc``, the slot path and ``what`` when absent or null."""
    current = value
    for i, index in enumerate(path):
        if isinstance(current, list) and -len(current) <= index < len(current):
            current = current[index]
        else:
            current = _MISSING
        if current is _MISSING or current is None:
            where = base + "".join(f"[{p}]" for p in path[: i + 1])
            raise UpstreamProtocolError(f"Flow {rpc} reply: {where} ({what}) is missing (upstream changed?)")
    return current


UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def first_uuid(value: Any) -> str | None:
    """The first UUID string met in a depth-first walk of ``value`` (jHPbke's project id, spec §7)."""
    for item in walk(value):
        if isinstance(item, str) and UUID_RE.match(item):
            return item
    return None
