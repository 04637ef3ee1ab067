"""The account health policy: what one account-specific failure does to its account.

Pure: :func:`judge` reads the failure, the account and the settings, and says
what to change; :meth:`flow2api.pool.AccountPool.record_failure` applies it.
Spec §5.7 counts every failed generation towards a ban; flow2api departs from
it for failures that say nothing about the account (docs/reliability.md,
"Upstream faults"): reCAPTCHA failures are the solver's, proxy failures the
proxy's, and — unless ``[admin] ban_on_upstream_errors`` — upstream 5xx and
timeouts Google's, so one partial outage cannot disable the whole pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flow2api.errors import (
    CaptchaError,
    CredentialRejectedError,
    Flow2APIError,
    ProxyConnectError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from flow2api.proxies import redact_proxy
from flow2api.settings import Settings
from flow2api.storage.accounts import AccountRecord


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do after one failure.

    ``changes``: account fields to store (``last_error`` always, plus
    ``cooldown_until`` in Unix seconds or ``consecutive_errors``);
    ``refresh``: refresh the credentials before the next use; ``proxy``: the
    redacted proxy URL to charge with one connection failure; ``disable``: the
    ban reason when the account must leave the rotation; ``cooldown``: seconds
    of rest after an upstream 429 (for the log).
    """

    changes: dict[str, Any] = field(default_factory=dict)
    refresh: bool = False
    proxy: str | None = None
    disable: str | None = None
    cooldown: float | None = None


def judge(record: AccountRecord, exc: Flow2APIError, settings: Settings, *, now: float) -> Verdict | None:
    """The policy for ``exc`` on ``record``'s account at Unix time ``now``; ``None`` when it is not the account's
    concern (``exc.account_fault`` false).

    * credential rejected: refresh before the next use (a rejected refresh then disables the account);
    * upstream 429: rest for ``exc.retry_after`` or ``[admin] rate_limit_cooldown`` seconds;
    * proxy connection failure: counted against the proxy, not the account;
    * reCAPTCHA failure, and upstream 5xx/timeout unless ``[admin] ban_on_upstream_errors``: only ``last_error``;
    * anything else: one more consecutive error; at ``[admin] error_ban_threshold`` (0 = never) the account is
      disabled.
    """
    if not exc.account_fault:
        return None
    noted = {"last_error": exc.message}
    if isinstance(exc, CredentialRejectedError):
        # The short-lived credential may just have expired early: refresh before the next use.
        return Verdict(noted, refresh=True)
    if isinstance(exc, UpstreamRateLimitedError):
        pause = exc.retry_after if exc.retry_after is not None else settings.admin.rate_limit_cooldown
        return Verdict({**noted, "cooldown_until": now + pause}, cooldown=pause)
    if isinstance(exc, ProxyConnectError):
        return Verdict(noted, proxy=redact_proxy(record.proxy_url or settings.global_proxy_url))
    if isinstance(exc, CaptchaError) or (
        isinstance(exc, UpstreamUnavailableError) and not settings.admin.ban_on_upstream_errors
    ):
        return Verdict(noted)
    errors = record.consecutive_errors + 1
    threshold = settings.admin.error_ban_threshold
    disable = f"{errors} consecutive errors" if threshold and errors >= threshold else None
    return Verdict({**noted, "consecutive_errors": errors}, disable=disable)
