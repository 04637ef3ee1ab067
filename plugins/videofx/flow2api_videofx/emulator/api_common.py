"""Checks every {api} operation shares: bearer auth, body parsing, project and media ownership,
paygate tier, reCAPTCHA evaluation, safety faults and credits.

Handlers call these in a fixed order so the error a client sees is predictable:
auth (401) → body schema (400) → project / referenced media (403/404/400) → reCAPTCHA (403,
consumes the token) → safety fault (400) → credits (429) → effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import GoogleError, error_info, invalid_argument, not_found, parse_json_object, permission_denied, \
    unauthenticated
from .keys import CONTEXT, EMULATOR
from .recording import RequestContext, bearer_token
from .settings import EmulatorAccount
from .state import GeneratedImage, Project, UploadedImage

if TYPE_CHECKING:  # pragma: no cover
    from .app import FlowEmulator

DEFAULT_SAFETY_REASON = "PUBLIC_ERROR_UNSAFE_GENERATION"
DEFAULT_SAFETY_MESSAGE = ("The request could not be processed because it may violate our policies. "
                          "Try rephrasing your prompt.")


def emulator_of(request: web.Request) -> "FlowEmulator":
    return request.app[EMULATOR]


def context_of(request: web.Request) -> RequestContext:
    return request[CONTEXT]


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 ``INVALID_ARGUMENT`` otherwise)."""
    return parse_json_object(await request.read())


def require_account(request: web.Request) -> EmulatorAccount:
    """The account of the bearer AT, or 401 (missing / unknown / expired, spec §1.2, §2.2)."""
    emulator = emulator_of(request)
    value = bearer_token(request)
    if value is None:
        raise unauthenticated("CREDENTIALS_MISSING")
    token = emulator.world.access_tokens.get(value)
    if token is None or token.email not in emulator.world.accounts:
        raise unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED")
    if emulator.clock() >= token.expires_at:
        raise unauthenticated("ACCESS_TOKEN_EXPIRED")
    return emulator.world.accounts[token.email]


def owned_project(request: web.Request, account: EmulatorAccount, project_id: str, field: str) -> Project:
    """The project ``project_id`` if ``account`` owns it: 404 when unknown/deleted, 403 when another's."""
    project = emulator_of(request).world.projects.get(project_id)
    if project is None or project.deleted:
        raise not_found(f"project {project_id}", field)
    if project.email != account.email:
        raise permission_denied(f"The caller does not have permission to use project {project_id} "
                                f"(field '{field}')")
    return project


def check_tier(account: EmulatorAccount, client_context: dict[str, Any], field: str = "clientContext") -> None:
    """``clientContext.userPaygateTier``, when sent, must be the account's tier (as `/credits` reports it)."""
    sent = client_context.get("userPaygateTier")
    if sent is not None and sent != account.tier:
        raise invalid_argument(f"{field}.userPaygateTier",
                               f"Invalid value at '{field}.userPaygateTier', \"{sent}\": the account's tier is "
                               f"{account.tier}")


def owned_image(request: web.Request, account: EmulatorAccount, name: str, field: str,
                project_id: str) -> UploadedImage | GeneratedImage:
    """An image media (upload or generation) usable in ``project_id``.

    400 naming ``field`` when it does not exist for this account, or when it was uploaded into
    (or generated in) another project; legacy uploads without a project are usable anywhere.
    """
    image = emulator_of(request).world.images.get(name)
    if image is None or image.email != account.email:
        raise invalid_argument(field, f"Invalid value at '{field}', \"{name}\": no such image media for this account")
    if image.project_id is not None and image.project_id != project_id:
        raise invalid_argument(field, f"Invalid value at '{field}', \"{name}\": the media belongs to project "
                                      f"{image.project_id}, not {project_id}")
    return image


def check_recaptcha(request: web.Request, account: EmulatorAccount, client_context: dict[str, Any], *,
                    action: str, project_id: str) -> None:
    """Evaluate ``clientContext.recaptchaContext`` for this call (403 on any violation, spec §1.6)."""
    emulator = emulator_of(request)
    ctx = context_of(request)
    forced = emulator.faults.take("captcha_fail", ctx.operation, account.email) is not None
    emulator.captcha.verify(client_context.get("recaptchaContext"), action=action, project_id=project_id,
                            user_agent=request.headers.get("User-Agent"), forced_failure=forced)


def check_safety(request: web.Request, account: EmulatorAccount) -> None:
    """Fault ``safety``: a 400 content-policy rejection with a ``PUBLIC_ERROR_*`` reason."""
    ctx = context_of(request)
    rule = emulator_of(request).faults.take("safety", ctx.operation, account.email)
    if rule is not None:
        raise GoogleError(400, rule.message or DEFAULT_SAFETY_MESSAGE,
                          details=[error_info(rule.reason or DEFAULT_SAFETY_REASON)], detail="fault-injected safety")


def charge(account: EmulatorAccount, cost: int) -> None:
    """Take ``cost`` credits or answer 429 (invented reason ``PUBLIC_ERROR_USER_QUOTA_REACHED``)."""
    if cost > account.credits:
        raise GoogleError(429, f"Not enough credits: this request needs {cost}, the account has {account.credits}.",
                          details=[error_info("PUBLIC_ERROR_USER_QUOTA_REACHED")], detail="insufficient credits")
    account.credits -= cost
