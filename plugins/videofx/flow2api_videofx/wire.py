"""Wire details shared by every Flow call: browser-like headers and the error classifier (spec §1.5).

:func:`classify` is the one place where an upstream answer becomes one of the
core's typed errors; the client calls it for every non-2xx reply.
"""

from __future__ import annotations

import re
import time
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
from flow2api_flowkit.projects import ProjectGoneError
from flow2api_flowkit.wording import (
    CAPTCHA_HINT, MODEL_ACCESS_HINT, PROJECT_GONE_HINT, REFUSED_HINT, action_of, in_words, status_hint,
)

ORIGIN = "https://labs.google"
REFERER = "https://labs.google/"
SESSION_COOKIE = "__Secure-next-auth.session-token"
TOOL = "PINHOLE"
RECAPTCHA_APPLICATION_TYPE = "RECAPTCHA_APPLICATION_TYPE_WEB"
HOST = "labs.google"
#: Operation names (as the client passes them to :func:`classify`) → what they do, as the object of "could not …"
#: (spec §2); error messages name the action and keep the operation in parentheses for support.
OPERATION_ACTIONS = {
    "auth/session": "exchange the session token for an access token",
    "project.createProject": "create a project",
    "media.getMediaUrlRedirect": "fetch the media's URL",
    "credits": "read the account's credits and tier",
    "flow/uploadImage": "upload the input image",
    "batchGenerateImages": "generate the images",
    "flow/upsampleImage": "upscale the image",
    "batchAsyncGenerateVideoText": "start the text-to-video job",
    "batchAsyncGenerateVideoStartImage": "start the image-to-video job",
    "batchAsyncGenerateVideoStartAndEndImage": "start the first-and-last-frame video job",
    "batchAsyncGenerateVideoReferenceImages": "start the reference-images video job",
    "batchAsyncGenerateVideoExtendVideo": "extend the video",
    "batchAsyncGenerateVideoUpsampleVideo": "upscale the video",
    "batchCheckAsyncVideoGenerationStatus": "check the video job's status",
    "getMedia": "read the media record",
    "runVideoFxConcatenation": "join the video clips",
    "runVideoFxCheckConcatenationStatus": "check the join of the clips",
}
CAPTCHA_REASONS = frozenset({"PUBLIC_ERROR_UNUSUAL_ACTIVITY", "PUBLIC_ERROR_SOMETHING_WENT_WRONG"})


def session_id() -> str:
    """A Flow ``sessionId``: ``";"`` + Unix time in milliseconds (spec §1.5)."""
    return f";{int(time.time() * 1000)}"


# Copied from a real Chrome capture by the original project (spec §1.5); sent on generation calls.
BROWSER_CHANNEL_HEADERS = {
    "x-browser-channel": "stable",
    "x-browser-copyright": "Copyright 2026 Google LLC. All Rights Reserved.",
    "x-browser-validation": "MRCPrt/rS3JY47x2Yiz9h3ag4U8=",
    "x-browser-year": "2026",
}


def browser_headers(user_agent: str, *, referer: str = REFERER, generation: bool = False) -> dict[str, str]:
    """Headers that make a call look like the Flow web app; ``sec-ch-ua*`` derived from ``user_agent`` (spec §1.5).

    ``generation`` adds what HEAD sends on generation calls only (``Priority``,
    ``sec-fetch-storage-access``, ``x-browser-*``).
    """
    major = re.search(r"Chrome/(\d+)", user_agent)
    version = major.group(1) if major else "149"
    platform = "Windows" if "Windows" in user_agent else "macOS" if "Mac OS" in user_agent else "Linux"
    extra = {"Priority": "u=1, i", "sec-fetch-storage-access": "active", **BROWSER_CHANNEL_HEADERS} if generation else {}
    return {
        "User-Agent": user_agent,
        "sec-ch-ua": f'"Google Chrome";v="{version}", "Chromium";v="{version}", "Not)A;Brand";v="24"',
        "sec-ch-ua-mobile": "?0",
        "sec-ch-ua-platform": f'"{platform}"',
        "Origin": ORIGIN,
        "Referer": referer,
        "Accept": "*/*",
        "Accept-Language": "en-US,en;q=0.9",
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "cross-site",
        **extra,
    }


def _error_parts(body: Any) -> tuple[str, str, str, float | None]:
    """(reason, message, status, RetryInfo seconds) from a Google error envelope; empty/None when absent."""
    if not isinstance(body, dict):
        return "", "", "", None
    error = body.get("error")
    if not isinstance(error, dict):
        return "", "", "", None
    reason = ""
    retry_delay = None
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("reason") and not reason:
            reason = str(detail["reason"])
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and re.fullmatch(r"\d+(\.\d+)?s", delay):
            retry_delay = float(delay[:-1])
    return reason, str(error.get("message") or ""), str(error.get("status") or ""), retry_delay


def _retry_after(header: str | None, retry_info: float | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), else from ``RetryInfo.retryDelay``."""
    if header and header.strip().replace(".", "", 1).isdigit():
        return float(header.strip())
    return retry_info


def _names_project(message: str) -> bool:
    """Whether a NOT_FOUND message is about the project: it names one, or names no entity at all (Google's bare
    "Requested entity was not found."); "… not found: media <id>" is about a media and is not."""
    lower = message.lower()
    return "project" in lower or lower.strip().rstrip(".") == "requested entity was not found"


def failure(operation: str, status: str, hint: str, *, what: str | None = None, detail: str = "") -> str:
    """``labs.google could not <action of operation> (<operation>, <status>[: <detail>]): <hint>``
    (:func:`flow2api_flowkit.wording.in_words`); ``what`` replaces "could not <action>"."""
    return in_words(HOST, what or f"could not {action_of(OPERATION_ACTIONS, operation)}", operation, status, hint,
                    detail=detail)


def classify(status: int, body: Any, *, operation: str, retry_after: str | None = None,
             project_id: str | None = None) -> Flow2APIError:
    """Turn a non-2xx Flow reply into a typed error (spec §1.5 envelope, §5.7, §5.10).

    ===========================================  =============================================
    upstream answer                              error (what the pipeline does)
    ===========================================  =============================================
    401 or ``UNAUTHENTICATED``                   ``CredentialRejectedError`` (refresh, failover)
    reason ``PUBLIC_ERROR_UNUSUAL_ACTIVITY`` /   ``CaptchaError`` (new token, then failover)
    ``…SOMETHING_WENT_WRONG`` or "recaptcha"
    429 or ``RESOURCE_EXHAUSTED``                ``UpstreamRateLimitedError`` with ``retry_after``
                                                 from ``Retry-After`` or ``RetryInfo`` (cool down)
    ``NOT_FOUND`` about ``project_id``           ``ProjectGoneError`` (502; the family replaces the
    on a call scoped to that project             project and retries once, flowkit.projects)
    reason ``PUBLIC_ERROR_MODEL_ACCESS_DENIED``  ``PermissionDeniedError`` (403, tier)
    other ``PUBLIC_ERROR_*``                     ``ContentPolicyError`` (400, no retry)
    400                                          ``InvalidRequestError`` (no retry)
    other 403                                    ``CredentialRejectedError``
    5xx                                          ``UpstreamUnavailableError`` (failover)
    anything else                                ``UpstreamError`` (502)
    ===========================================  =============================================

    The message is in words (:func:`flow2api_flowkit.wording.in_words`): what failed, then the operation,
    the status and upstream's reason and text in parentheses, then what to do; never a token.
    """
    reason, message, grpc, retry_info = _error_parts(body)
    detail = f"{reason}: {message}" if reason and message else (reason or message)
    name = grpc or f"HTTP {status}"

    def said(hint: str, what: str | None = None) -> str:
        return failure(operation, name, hint, what=what, detail=detail)

    if status == 401 or grpc == "UNAUTHENTICATED":
        return CredentialRejectedError(said(status_hint("UNAUTHENTICATED")))
    if reason in CAPTCHA_REASONS or "recaptcha" in message.lower():
        return CaptchaError(said(CAPTCHA_HINT))
    if status == 429 or grpc == "RESOURCE_EXHAUSTED":
        return UpstreamRateLimitedError(said(status_hint("RESOURCE_EXHAUSTED")),
                                        retry_after=_retry_after(retry_after, retry_info))
    # Only a Google error envelope (status NOT_FOUND) counts: a bare HTTP 404 (a wrong base URL) must not make
    # the family drop and re-create projects on every request.
    if project_id and grpc == "NOT_FOUND" and _names_project(message):
        return ProjectGoneError(said(PROJECT_GONE_HINT, "could not find the project"), project_id=project_id)
    if reason == "PUBLIC_ERROR_MODEL_ACCESS_DENIED":
        return PermissionDeniedError(said(MODEL_ACCESS_HINT, "refused the model for this account"))
    if reason.startswith("PUBLIC_ERROR_"):
        return ContentPolicyError(said(REFUSED_HINT, "refused the request"))
    if status == 400:
        return InvalidRequestError(said(status_hint("INVALID_ARGUMENT")))
    if status == 403:
        return CredentialRejectedError(said(status_hint("PERMISSION_DENIED")))
    if status >= 500:
        return UpstreamUnavailableError(said(status_hint(grpc or "UNAVAILABLE")))
    return UpstreamError(said(status_hint(name)))


_REASON = re.compile(r"PUBLIC_ERROR_[A-Z0-9_]+")
#: Media-status suffixes that name a content filter rather than a fault (spec §3.1 lists none; these are guesses
#: from the ``…_ERROR_*`` family, checked by the emulator's ``video_fail`` fault).
_FILTER_WORDS = ("UNSAFE", "FILTER", "POLICY", "BLOCKED")


def failed_job_error(label: str, status: str, message: str | None, code: int | None) -> Flow2APIError:
    """The error for a video job Flow ran and failed (spec §3.1): a content-policy refusal — a
    ``PUBLIC_ERROR_*`` reason in the message (other than the reCAPTCHA ones) or a filter-named
    ``…_ERROR_*`` status — is ``ContentPolicyError`` (400, reason named; the original answered 500,
    its #167), anything else ``GenerationFailedError`` (502). The message keeps upstream's text and code.
    """
    detail = message or "no reason given"
    suffix = f" (code {code})" if code is not None else ""
    reasons = [r for r in dict.fromkeys(_REASON.findall(detail)) if r not in CAPTCHA_REASONS]
    state = status.removeprefix("MEDIA_GENERATION_STATUS_")
    if reasons or any(word in state for word in _FILTER_WORDS):
        return ContentPolicyError(f"Flow refused the {label} ({', '.join(reasons) or state}): {detail}{suffix}")
    return GenerationFailedError(f"Flow {label} generation failed: {detail}{suffix}")
