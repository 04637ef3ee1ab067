"""What a batchexecute error status means: the ``wrb.fr`` status array → a :mod:`flow2api.errors` type (spec §2.7, §14.4).

A failed RPC's entry carries ``[code, message?, details]`` at slot 5 (:mod:`flow2api_flowweb.envelope` reads
it); :func:`classify_status` turns it into the typed error, its message in words (what failed, the rpc id and
status in parentheses, what to do: :func:`flow2api_flowweb.rpcs.failure`). Unusual activity →
``CaptchaError``; status 16 → ``SessionExpiredError`` (401); status 8 and quota reasons →
``UpstreamRateLimitedError`` (429); status 3 → 400; status 7 → 403; a policy ``PUBLIC_ERROR_*`` →
``ContentPolicyError`` (400); status 5 → :class:`RpcNotFoundError`. The HTTP-level failures of a whole
reply (401, 429, 5xx, a missing entry) stay in :func:`flow2api_flowweb.envelope.payload_of`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flow2api.errors import (
    CaptchaError,
    ContentPolicyError,
    CredentialRejectedError,
    Flow2APIError,
    GenerationFailedError,
    InvalidRequestError,
    PermissionDeniedError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from flow2api_flowkit.wording import CAPTCHA_HINT, DEFAULT_HINT, MODEL_ACCESS_HINT, SAFETY_HINT, status_hint
from flow2api_flowweb.rpcs import failure

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


def walk(value: Any) -> Iterator[Any]:
    """``value`` and every value nested in its lists, depth first (jspb payloads are nested lists)."""
    yield value
    if isinstance(value, list):
        for item in value:
            yield from walk(item)

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
        for value in walk(body):
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
