"""The batchexecute envelope: building one request and reading one reply (spec §2).

Request (spec §2.1–§2.4)::

    POST {base}/_/AiSandboxAngularFrontend/data/batchexecute
         ?rpcids=<id>&source-path=<page path>&bl=<build>&f.sid=<session>&hl=<lang>&_reqid=<n>&rt=c
    Content-Type: application/x-www-form-urlencoded;charset=UTF-8     X-Same-Domain: 1
    f.req=[[["<id>","<compact JSON of the positional args>",null,"generic"]]]&at=<SNlM0e>

Reply (spec §2.6–§2.7): ``)]}'``, a blank line, then (length line, JSON line) pairs whose
lengths are not trusted. Entries: ``["wrb.fr", id, "<payload JSON>", null, null, <status|null>,
"generic"]``, ``["er", …, <code at 5 or 6>]``, ``["xsrf", "<new at>"]``; anything else is ignored.

Errors become :mod:`flow2api.errors` types here and nowhere else (table in :func:`classify_status`):
unusual activity → ``CaptchaError``; HTTP 401, ``er`` 401/16 and status 16 → ``SessionExpiredError``
(401); HTTP 429, status 8 and quota reasons → ``UpstreamRateLimitedError`` (429); status 3 → 400;
status 7 → 403; a policy ``PUBLIC_ERROR_*`` → ``ContentPolicyError`` (400); a missing entry or slot →
``UpstreamProtocolError`` naming the RPC and slot. An XSRF challenge is :class:`XsrfChallenge`
(not an error of the core: the client retries with the new token).
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
    ContentPolicyError,
    CredentialRejectedError,
    Flow2APIError,
    GenerationFailedError,
    InvalidRequestError,
    PermissionDeniedError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from flow2api_flowkit.wording import (
    CAPTCHA_HINT, CHANGED_HINT, DEFAULT_HINT, MODEL_ACCESS_HINT, SAFETY_HINT, status_hint,
)
from flow2api_flowweb.rpcs import COOKIES_HINT, failure

RPC_PATH = "/_/AiSandboxAngularFrontend/data/batchexecute"
CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
#: Stands where the reCAPTCHA token goes until an executor mints one (flowkit's convention, spec §3.1).
CAPTCHA_PLACEHOLDER = "__CAPTCHA__"
XSSI_PREFIX = ")]}'"

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
AITK_ERROR = "type.googleapis.com/google.internal.labs.aisandbox.proto.common.v1.PublicAitkError"
UNUSUAL_ACTIVITY = "PUBLIC_ERROR_UNUSUAL_ACTIVITY"
#: PublicAitkError enum values (spec §2.7) → what they mean for the pool.
AITK_QUOTA = {2: "USER_QUOTA_REACHED", 3: "USER_REQUESTS_THROTTLED", 32: "PER_MODEL_DAILY_QUOTA_REACHED",
              34: "PER_MODEL_DAILY_QUOTA_REACHED_UPGRADEABLE", 50: "UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC"}
AITK_ACCESS_DENIED = {11: "MODEL_ACCESS_DENIED"}
GRPC_NAMES = {3: "INVALID_ARGUMENT", 5: "NOT_FOUND", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
              13: "INTERNAL", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED"}
_SAFETY_REASONS = ("PUBLIC_ERROR_UNSAFE_GENERATION", "PUBLIC_ERROR_PROMINENT_PEOPLE_FILTER_FAILED")
#: ``PUBLIC_ERROR_*`` reasons that are not a verdict on the content.
_NOT_POLICY = frozenset({UNUSUAL_ACTIVITY, "PUBLIC_ERROR_MODEL_ACCESS_DENIED", "PUBLIC_ERROR_USER_REQUESTS_THROTTLED",
                         "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC", "PUBLIC_ERROR_SOMETHING_WENT_WRONG"})


class SessionExpiredError(CredentialRejectedError):
    """UNAUTHENTICATED (gRPC 16, HTTP 401, ``er`` 401): the cookies are dead. An account fault (refresh or
    disable, then another account); the client sees **401** when none is left, as qzent maps it (spec §14.4)."""

    status = 401
    code = "upstream_session_expired"


def safety_reasons(reasons: list[str]) -> list[str]:
    """The content-policy refusals among ``PUBLIC_ERROR_*`` ``reasons``: every one but the traffic, quota and
    access ones (spec §2.7, §14.4: "policy refusals → 400")."""
    return [r for r in reasons if r.startswith("PUBLIC_ERROR_") and r not in _NOT_POLICY and "QUOTA" not in r]


class RpcNotFoundError(GenerationFailedError):
    """Status code 5 (NOT_FOUND) on an RPC (502). The client asks the project page whether the RPC's project is
    gone (then it is a ``ProjectGoneError``); a bare ``[5]`` alone proves nothing (spec §2.7)."""


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


def _walk(value: Any):  # noqa: ANN202 - generator of every nested value
    yield value
    if isinstance(value, list):
        for item in value:
            yield from _walk(item)


def error_reasons(status: Any) -> tuple[list[str], list[int], str]:
    """(``PUBLIC_ERROR_*`` reasons, PublicAitkError ints, message) found in a status array ``[code, msg?, details]``."""
    reasons: list[str] = []
    aitk: list[int] = []
    message = status[1] if isinstance(status, list) and len(status) > 1 and isinstance(status[1], str) else ""
    details = status[2] if isinstance(status, list) and len(status) > 2 else None
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, list) or not detail:
            continue
        body = detail[1:] if isinstance(detail[0], str) else detail
        for value in _walk(body):
            if isinstance(value, str) and value.startswith("PUBLIC_ERROR_"):
                reasons.append(value)
            elif detail[0] == AITK_ERROR and isinstance(value, int) and not isinstance(value, bool):
                aitk.append(value)
    return reasons, aitk, message


def classify_status(rpcid: str, status: Any) -> Flow2APIError:
    """The typed error for a ``wrb.fr`` error status (spec §2.7, §14.4), message in words
    (:func:`flow2api_flowkit.wording.in_words`: what failed, the rpc id and status in parentheses, what to
    do), never a token.

    ==================================================  ==========================================
    upstream status                                     error (HTTP the client sees)
    ==================================================  ==========================================
    ``PUBLIC_ERROR_UNUSUAL_ACTIVITY``                   ``CaptchaError`` (new token, failover; 502)
    a policy ``PUBLIC_ERROR_*`` (unsafe, people …)      ``ContentPolicyError`` (400, reason named)
    8 RESOURCE_EXHAUSTED, quota PublicAitkError         ``UpstreamRateLimitedError`` (429, cool down)
    ``…MODEL_ACCESS_DENIED`` / PublicAitkError 11       ``PermissionDeniedError`` (403)
    16 UNAUTHENTICATED                                  ``SessionExpiredError`` (refresh, failover; 401)
    3 INVALID_ARGUMENT                                  ``InvalidRequestError`` (400)
    7 PERMISSION_DENIED                                 ``PermissionDeniedError`` (403)
    5 NOT_FOUND                                         ``GenerationFailedError`` (502)
    13 INTERNAL, 14 UNAVAILABLE                         ``UpstreamUnavailableError`` (502, failover)
    ==================================================  ==========================================
    """
    code = status[0] if isinstance(status, list) and status and isinstance(status[0], int) else None
    reasons, aitk, message = error_reasons(status)
    name = GRPC_NAMES.get(code, f"code {code}")
    named = reasons + [AITK_QUOTA.get(a) or AITK_ACCESS_DENIED.get(a) or f"aitk {a}" for a in aitk]
    detail = ", ".join(named + ([message] if message else []))

    def said(hint: str, what: str | None = None) -> str:
        return failure(rpcid, name, hint, what=what, detail=detail)

    if UNUSUAL_ACTIVITY in reasons:
        return CaptchaError(said(CAPTCHA_HINT))
    if any(r in _SAFETY_REASONS for r in reasons):
        return ContentPolicyError(said(SAFETY_HINT, "refused the request"))
    if any(a in AITK_QUOTA for a in aitk) or code == 8:
        return UpstreamRateLimitedError(said(status_hint("RESOURCE_EXHAUSTED")))
    if "PUBLIC_ERROR_MODEL_ACCESS_DENIED" in reasons or any(a in AITK_ACCESS_DENIED for a in aitk):
        return PermissionDeniedError(said(MODEL_ACCESS_HINT, "refused the model for this account"))
    if code == 16:
        return SessionExpiredError(said(status_hint("UNAUTHENTICATED")))
    if safety_reasons(reasons):
        return ContentPolicyError(said(SAFETY_HINT, "refused the request"))
    if code == 3:
        # spec §14.4: INVALID_ARGUMENT is the request's fault (400), so the hint points at the input first
        return InvalidRequestError(said("check the prompt, the input images or video and the size; if valid input "
                                        "keeps failing, the upstream API may have changed: update flow2api"))
    if code == 7:
        return PermissionDeniedError(said(status_hint("PERMISSION_DENIED")))
    if code == 5:
        return RpcNotFoundError(said(status_hint("NOT_FOUND")))
    if code in (13, 14):
        return UpstreamUnavailableError(said(status_hint(name)))
    return UpstreamError(said(DEFAULT_HINT))


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
    for item in _walk(value):
        if isinstance(item, str) and UUID_RE.match(item):
            return item
    return None
