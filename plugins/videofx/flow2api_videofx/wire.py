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
    InvalidRequestError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)

ORIGIN = "https://labs.google"
REFERER = "https://labs.google/"
SESSION_COOKIE = "__Secure-next-auth.session-token"
TOOL = "PINHOLE"
RECAPTCHA_APPLICATION_TYPE = "RECAPTCHA_APPLICATION_TYPE_WEB"
CAPTCHA_REASONS = frozenset({"PUBLIC_ERROR_UNUSUAL_ACTIVITY", "PUBLIC_ERROR_SOMETHING_WENT_WRONG"})


def session_id() -> str:
    """A Flow ``sessionId``: ``";"`` + Unix time in milliseconds (spec §1.5)."""
    return f";{int(time.time() * 1000)}"


def browser_headers(user_agent: str, *, referer: str = REFERER) -> dict[str, str]:
    """Headers that make a call look like the Flow web app; ``sec-ch-ua*`` derived from ``user_agent`` (spec §1.5)."""
    major = re.search(r"Chrome/(\d+)", user_agent)
    version = major.group(1) if major else "149"
    platform = "Windows" if "Windows" in user_agent else "macOS" if "Mac OS" in user_agent else "Linux"
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
    }


def _error_parts(body: Any) -> tuple[str, str, str]:
    """(reason, message, status) from a Google error envelope, empty strings when absent."""
    if not isinstance(body, dict):
        return "", "", ""
    error = body.get("error")
    if not isinstance(error, dict):
        return "", "", ""
    reason = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reason = str(detail["reason"])
            break
    return reason, str(error.get("message") or ""), str(error.get("status") or "")


def classify(status: int, body: Any, *, operation: str, retry_after: str | None = None) -> Flow2APIError:
    """Turn a non-2xx Flow reply into a typed error (spec §1.5 envelope, §5.7, §5.10).

    401/UNAUTHENTICATED → credential rejected; reCAPTCHA reasons or messages →
    ``CaptchaError``; 429/RESOURCE_EXHAUSTED → rate limited (``Retry-After``
    seconds kept); other ``PUBLIC_ERROR_*`` → content policy (no retry); 400 →
    invalid request; other 403 → credential rejected; 5xx → unavailable.
    The message carries upstream's reason and text, never a token.
    """
    reason, message, grpc = _error_parts(body)
    summary = f"{reason}: {message}" if reason else (message or f"HTTP {status}")
    text = f"Flow {operation} failed: {summary}"
    if status == 401 or grpc == "UNAUTHENTICATED":
        return CredentialRejectedError(text)
    if reason in CAPTCHA_REASONS or "recaptcha" in message.lower():
        return CaptchaError(text)
    if status == 429 or grpc == "RESOURCE_EXHAUSTED":
        seconds = None
        if retry_after and retry_after.strip().isdigit():
            seconds = float(retry_after.strip())
        return UpstreamRateLimitedError(text, retry_after=seconds)
    if reason.startswith("PUBLIC_ERROR_"):
        return ContentPolicyError(f"Flow refused the request ({reason}): {message}" if message else f"Flow refused the request ({reason})")
    if status == 400:
        return InvalidRequestError(text)
    if status == 403:
        return CredentialRejectedError(text)
    if status >= 500:
        return UpstreamUnavailableError(text)
    err = UpstreamError(text)
    return err
