"""The account health policy on its own (:func:`flow2api.pool.health.judge`); the pool applying it against the
emulator is in ``test_pool.py``."""

from __future__ import annotations

from flow2api.errors import (
    CaptchaError,
    CredentialRejectedError,
    GenerationFailedError,
    InvalidRequestError,
    UpstreamError,
    ProxyConnectError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api.pool.health import judge
from flow2api.settings import Settings
from flow2api.storage.accounts import AccountRecord

NOW = 1_800_000_000.0


class AccountSuspendedError(UpstreamError):
    """What a provider plugin raises for an account-specific refusal the core has no class for."""

    account_fault = True


def settings(**admin: object) -> Settings:
    return Settings.model_validate({"admin": {"error_ban_threshold": 3, **admin}})


def account(errors: int = 0, proxy: str | None = None) -> AccountRecord:
    return AccountRecord(id=1, family="videofx", email="a@example.com", consecutive_errors=errors, proxy_url=proxy)


def test_failures_that_are_not_the_accounts_change_nothing() -> None:
    assert judge(account(), InvalidRequestError("bad size"), settings(), now=NOW) is None
    assert judge(account(errors=2), GenerationFailedError("policy"), settings(), now=NOW) is None


def test_upstream_5xx_and_timeouts_only_note_the_error_unless_asked_to_count() -> None:
    for exc in (UpstreamUnavailableError("503"), UpstreamTimeoutError("slow")):
        verdict = judge(account(errors=2), exc, settings(), now=NOW)
        assert verdict is not None and verdict.changes == {"last_error": exc.message} and verdict.disable is None
    counted = judge(account(errors=2), UpstreamUnavailableError("503"), settings(ban_on_upstream_errors=True), now=NOW)
    assert counted is not None and counted.changes["consecutive_errors"] == 3 and counted.disable == "3 consecutive errors"


def test_other_account_errors_count_and_disable_at_the_threshold_unless_it_is_zero() -> None:
    second = judge(account(errors=1), AccountSuspendedError("suspended"), settings(), now=NOW)
    assert second is not None and second.changes["consecutive_errors"] == 2 and second.disable is None
    third = judge(account(errors=2), AccountSuspendedError("suspended"), settings(), now=NOW)
    assert third is not None and third.disable == "3 consecutive errors"
    never = judge(account(errors=50), AccountSuspendedError("suspended"), settings(error_ban_threshold=0), now=NOW)
    assert never is not None and never.disable is None and never.changes["consecutive_errors"] == 51


def test_a_429_rests_the_account_for_retry_after_or_the_configured_cooldown() -> None:
    told = judge(account(), UpstreamRateLimitedError("slow down", retry_after=7), settings(), now=NOW)
    assert told is not None and told.changes["cooldown_until"] == NOW + 7 and told.cooldown == 7
    default = judge(account(), UpstreamRateLimitedError("slow down"), settings(rate_limit_cooldown=45), now=NOW)
    assert default is not None and default.changes["cooldown_until"] == NOW + 45
    assert "consecutive_errors" not in told.changes


def test_captcha_credential_and_proxy_failures_are_not_counted_against_the_account() -> None:
    captcha = judge(account(errors=2), CaptchaError("no token"), settings(), now=NOW)
    assert captcha is not None and "consecutive_errors" not in captcha.changes and captcha.disable is None
    rejected = judge(account(errors=2), CredentialRejectedError("401"), settings(), now=NOW)
    assert rejected is not None and rejected.refresh and "consecutive_errors" not in rejected.changes
    proxied = judge(account(proxy="http://user:pw@proxy.example:8080"), ProxyConnectError("refused"), settings(), now=NOW)
    assert proxied is not None and proxied.proxy is not None and "pw" not in proxied.proxy
    assert "consecutive_errors" not in proxied.changes
