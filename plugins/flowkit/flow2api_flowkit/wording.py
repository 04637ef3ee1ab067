"""Upstream errors in words, for both Flow families (issue 19 item 9).

A Flow failure used to read ``Flow ogiZ0b failed: NOT_FOUND``: an RPC id and a gRPC status, neither of
which tells an operator what failed or what to do. :func:`in_words` writes the one shape both families
use::

    <host> <what failed> (<rpc or operation>, <status>[: <upstream's text>]): <what to do>
    flow.google.com could not generate the images (rpc ogiZ0b, NOT_FOUND): the account's project was deleted …

The parenthesis keeps the upstream reference (rpc id or REST operation, status, Google's own message) for
support and bug reports; the hint after the colon says what to re-check: the account, the reCAPTCHA
solver, the project, the prompt, or flow2api itself. Each family keeps its own table of what its rpc ids
or operations do (flow2api_flowweb.rpcs, flow2api_videofx.wire); the hints by status are shared here.
Messages reach API clients and the admin site: nothing here ever includes a credential.
"""

from __future__ import annotations

from collections.abc import Mapping

#: What to do, by gRPC status name (spec §2.7 of flow-google-batchexecute.md; §1.5/§5.7 of flow-upstream.md).
STATUS_HINTS: Mapping[str, str] = {
    "UNAUTHENTICATED": "the account's sign-in expired or was revoked; flow2api refreshes it once, and if that "
                       "fails re-check the account (new cookies or session token in the admin site)",
    "PERMISSION_DENIED": "Google refused this account; check that it can use Flow in a browser and that its plan "
                         "includes this model",
    "RESOURCE_EXHAUSTED": "the account is out of credits or rate limited; it cools down while other accounts are "
                          "used (add credits or accounts if this persists)",
    "INVALID_ARGUMENT": "Flow rejected the request's fields; the upstream API may have changed, update flow2api",
    "NOT_FOUND": "Flow found nothing for the request though its project exists; retry, and if it persists the "
                 "upstream API may have changed",
    "INTERNAL": "a temporary failure at Google; retry (other accounts are tried first)",
    "UNAVAILABLE": "a temporary failure at Google; retry (other accounts are tried first)",
    "DEADLINE_EXCEEDED": "Google did not answer in time; retry (other accounts are tried first)",
}
DEFAULT_HINT = "retry; if it persists, report it with the reference in parentheses"

CAPTCHA_HINT = ("Google suspected automated traffic and refused the reCAPTCHA token; check the reCAPTCHA solver "
                "([captcha] settings) and the account's proxy")
PROJECT_GONE_HINT = "the account's project was deleted upstream; flow2api drops it and makes a new one"
#: A project that vanished after upstream accepted a job (issue 18): the job is not sent again (it would be paid twice).
PROJECT_LOST_HINT = ("the account's project was deleted upstream while the job ran, and the job with it; flow2api "
                     "dropped the project (the next request gets a new one): submit the request again")
RETRY_FAILED_HINT = "retrying on a new project failed too; re-add the account (or open Flow with it in a browser)"
SAFETY_HINT = "Flow's safety filter refused the prompt or an input image; change them (no retry helps)"
REFUSED_HINT = "Flow refused the request for the reason in parentheses; change the prompt or the input images"
MODEL_ACCESS_HINT = "the account's plan does not include this model; use an account with a higher tier"
XSRF_HINT = "the page's XSRF token was refused twice; re-check the account (its cookies may belong to another login)"
CHANGED_HINT = "the upstream API may have changed; update flow2api"

PROXY_HINT = "the account's proxy failed and Google was never reached; check the proxy (the account's, else [proxy])"
UNREACHABLE_HINT = "Google could not be reached; check this server's network or proxy, then retry"


def status_hint(status: str) -> str:
    """What to do about a gRPC ``status`` name (``NOT_FOUND``), :data:`DEFAULT_HINT` for one not in the table."""
    return STATUS_HINTS.get(status, DEFAULT_HINT)


def action_of(actions: Mapping[str, str], ref: str) -> str:
    """The action ``ref`` (an rpc id or an operation name) performs, from a family's table; ``run <ref>`` if new."""
    return actions.get(ref, f"run {ref}")


def in_words(host: str, what: str, ref: str, status: str, hint: str, *, detail: str = "") -> str:
    """``<host> <what> (<ref>, <status>[: <detail>]): <hint>`` — the one shape of a Flow failure's message.

    ``what`` is the failure as a verb phrase (``could not generate the images``), ``ref`` the upstream
    reference (``rpc ogiZ0b``, ``batchGenerateImages``), ``status`` the gRPC name or ``HTTP 503``,
    ``detail`` upstream's own text (a reason, Google's message; never a credential).
    """
    told = f"{status}: {detail}" if detail and detail != status else status
    return f"{host} {what} ({ref}, {told}): {hint}"


def transport_status(exc: BaseException, timeout: float | None = None) -> str:
    """The status part of a failure that never got an answer: ``no answer in 30 s`` or the exception's class."""
    return f"no answer in {timeout:g} s" if timeout is not None else type(exc).__name__


def mid_job(message: str) -> str:
    """``message`` of a project found gone at submit time (ending in :data:`PROJECT_GONE_HINT`), with
    :data:`PROJECT_LOST_HINT` in its place: the message of a job lost with its project."""
    return f"{message.removesuffix(PROJECT_GONE_HINT).rstrip().rstrip(':')}: {PROJECT_LOST_HINT}"


def after_retry(message: str) -> str:
    """``message`` of a project that vanished again on its replacement, with :data:`RETRY_FAILED_HINT` added."""
    return f"{message}; {RETRY_FAILED_HINT}"
