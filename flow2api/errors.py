"""The exception hierarchy of flow2api and what each error means on the wire.

Every error a request can end with is a subclass of :class:`Flow2APIError`.
Each class declares the HTTP ``status``, the OpenAI error ``type`` and
``code`` it renders as, and three flags the pipeline reads to decide what to do
next: ``account_fault`` (the attempt failed on the leased account: mark it and
try another one), ``retryable`` (another attempt may succeed) and ``transient``
(the failure says nothing against the account: once the others were tried, the
failover may lease it again)::

    Flow2APIError                       500 server_error / internal_error
    ├── InvalidRequestError             400 invalid_request_error / invalid_request
    │   ├── ModelNotFoundError          404 invalid_request_error / model_not_found
    │   ├── NotFoundError               404 invalid_request_error / not_found
    │   ├── MethodNotAllowedError       405 invalid_request_error / method_not_allowed
    │   ├── ConflictError               409 invalid_request_error / conflict
    │   ├── PayloadTooLargeError        413 invalid_request_error / payload_too_large
    │   ├── RequestTimeoutError         408 invalid_request_error / request_timeout (also a TimeoutError)
    │   ├── ContentPolicyError          400 invalid_request_error / content_policy_violation
    │   └── MediaOwnerUnavailableError  400 invalid_request_error / media_owner_unavailable
    ├── AuthenticationError             401 invalid_request_error / invalid_api_key
    ├── PermissionDeniedError           403 invalid_request_error / permission_denied
    ├── RateLimitError                  429 rate_limit_error / rate_limit_exceeded
    ├── NoAccountAvailableError         503 server_error / no_account_available
    ├── ProviderUnavailableError        503 server_error / provider_unavailable
    ├── CoordinationUnavailableError    503 server_error / coordination_unavailable
    └── UpstreamError                   502 upstream_error / upstream_error
        ├── CredentialRejectedError         account credential expired/revoked
        ├── UpstreamRateLimitedError        quota / 429 upstream (cool the account down)
        ├── CaptchaError                    reCAPTCHA token missing or rejected
        │   └── SolverUnavailableError      the solver gave no token (transient)
        ├── UpstreamUnavailableError        5xx, connection errors (transient)
        │   └── UpstreamTimeoutError        504
        ├── ProxyConnectError               the account's proxy itself failed
        ├── UpstreamProtocolError           a reply we cannot read: "upstream changed"
        └── GenerationFailedError           the upstream job ran and failed

Messages are shown to API clients: they must never contain a secret (ST, AT,
API key, cookie). Providers translate ``aiohttp.ClientError`` and timeouts at
their boundary with ``raise … from exc`` (see ../shared/STYLE.md §3).
"""

from __future__ import annotations


class Flow2APIError(Exception):
    """Root of every error flow2api renders to a client.

    ``message`` is client-facing text; ``param`` names the offending request
    field (OpenAI error ``param``) when there is one.
    """

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"
    account_fault: bool = False
    retryable: bool = False
    transient: bool = False

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequestError(Flow2APIError):
    """The request itself is wrong; retrying it unchanged cannot help."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class ModelNotFoundError(InvalidRequestError):
    """The ``model`` is not in the catalog (or is disabled there)."""

    status = 404
    code = "model_not_found"


class NotFoundError(InvalidRequestError):
    """A resource addressed by the URL (media, video job) does not exist."""

    status = 404
    code = "not_found"


class MethodNotAllowedError(InvalidRequestError):
    """The endpoint exists but not for this HTTP method."""

    status = 405
    code = "method_not_allowed"


class ConflictError(InvalidRequestError):
    """The request contradicts stored state (e.g. an ``Idempotency-Key`` reused with another body)."""

    status = 409
    code = "conflict"


class PayloadTooLargeError(InvalidRequestError):
    """The body or an input image is larger than the configured limit."""

    status = 413
    code = "payload_too_large"


class RequestTimeoutError(InvalidRequestError, TimeoutError):
    """The client did not send its request body within ``[server] body_timeout`` (:mod:`flow2api.serving`).

    Also a ``TimeoutError``, so aiohttp's lingering read of an unread body stops at it quietly.
    """

    status = 408
    code = "request_timeout"


class ContentPolicyError(InvalidRequestError):
    """Upstream refused the prompt or an input for policy/safety reasons."""

    code = "content_policy_violation"


class MediaOwnerUnavailableError(InvalidRequestError):
    """A job on an existing media (edit, extend) cannot run: the account that owns it upstream is gone or
    disabled, and no other account can reach that media."""

    code = "media_owner_unavailable"


class AuthenticationError(Flow2APIError):
    """Missing, unknown, disabled or expired API key (OpenAI: 401 ``invalid_api_key``)."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDeniedError(Flow2APIError):
    """The key is valid but may not do this (model not allowed, tier missing)."""

    status = 403
    type = "invalid_request_error"
    code = "permission_denied"


class RateLimitError(Flow2APIError):
    """A flow2api limit refused the request; ``retry_after`` is in seconds."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class NoAccountAvailableError(Flow2APIError):
    """No pool account can serve the model right now (none enabled, none with the tier, all busy).

    ``retry_after``: seconds until the first cool-down of an account that could serve it ends, when that
    is what stands in the way (rendered as ``Retry-After``); ``None`` when the pool cannot know.
    """

    status = 503
    code = "no_account_available"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class ProviderUnavailableError(Flow2APIError):
    """The catalog routes the model to a provider that is not installed."""

    status = 503
    code = "provider_unavailable"


class CoordinationUnavailableError(Flow2APIError):
    """The shared coordination backend (``[coordination] redis_url``) cannot be reached: new work is refused
    rather than admitted without the cross-instance slot and rate-limit counts (issue 17, item 6).

    ``retry_after`` is a hint in seconds (``Retry-After``), not a promise.
    """

    status = 503
    code = "coordination_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = 5.0, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class UpstreamError(Flow2APIError):
    """Base of everything that went wrong on the upstream side."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"


class CredentialRejectedError(UpstreamError):
    """Upstream rejected the account's credential (expired/revoked ST or AT)."""

    code = "upstream_credential_rejected"
    account_fault = True
    retryable = True


class UpstreamRateLimitedError(UpstreamError):
    """Upstream quota or 429 for this account; ``retry_after`` in seconds when upstream gave one."""

    status = 429
    code = "upstream_rate_limited"
    account_fault = True
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class CaptchaError(UpstreamError):
    """No reCAPTCHA token could be had, or upstream rejected it (spec §1.6)."""

    code = "recaptcha_failed"
    account_fault = True
    retryable = True


class SolverUnavailableError(CaptchaError):
    """The reCAPTCHA solver gave no token: unreachable, no free slot, or its task failed (spec §1.6).

    Nothing against the account (the same solver serves every account), so the
    failover may come back to it, as after a 5xx; a solver that refuses the task
    itself (bad API key, no balance) raises a plain :class:`CaptchaError`.
    """

    transient = True


class UpstreamUnavailableError(UpstreamError):
    """Upstream answered 5xx or could not be reached."""

    code = "upstream_unavailable"
    account_fault = True
    retryable = True
    transient = True


class UpstreamTimeoutError(UpstreamUnavailableError):
    """Upstream did not answer, or a job did not finish, in the configured time."""

    status = 504
    code = "upstream_timeout"


class ProxyConnectError(UpstreamError):
    """The configured HTTP/SOCKS proxy could not be used; Google was never reached."""

    code = "proxy_error"
    account_fault = True
    retryable = True


class UpstreamProtocolError(UpstreamError):
    """Upstream answered with a shape we cannot read ("upstream changed")."""

    code = "upstream_changed"


class GenerationFailedError(UpstreamError):
    """The upstream job was accepted and then failed; retrying would duplicate work."""

    code = "generation_failed"


def all_error_classes() -> list[type[Flow2APIError]]:
    """Every error class in this module, root first (used by the error-shape meta-test)."""
    found: list[type[Flow2APIError]] = []
    stack: list[type[Flow2APIError]] = [Flow2APIError]
    while stack:
        cls = stack.pop(0)
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found
