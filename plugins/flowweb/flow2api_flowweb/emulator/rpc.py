"""The batchexecute endpoint of the emulator: envelope checks, then one handler per RPC (spec §2).

Checked in this order, so the error a client sees is predictable:

1. cookies name a signed-in account (``OSID``/``__Secure-OSID`` + an SSO cookie) → else
   **HTTP 401** with an ``er`` 401 entry; a form-urlencoded body → else HTTP 400;
2. ``at`` present (missing → **401**) and current (stale or wrong → **HTTP 400** with
   ``["xsrf", "<new at>"]``);
3. query (``rpcids``, ``bl``, ``f.sid``, ``hl``, ``_reqid``, ``rt=c``; ``source-path``
   optional) and ``X-Same-Domain: 1`` → else **HTTP 400**;
4. ``f.req`` = ``[[[id, "<args JSON>", null, "generic"], …]]`` with ids equal to ``rpcids``
   → else HTTP 400;
5. per RPC (handlers.py, videos.py): argument layout (a bare ``[3]`` naming nothing on the wire;
   the reason is in ``X-Emulator-Detail`` and the log), ownership, reCAPTCHA, faults, credits.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .app import RECORD, FlowWebEmulator, RecordedCall, emulator_of, request_account
from .faults import mangle
from .state import EmulatorAccount
from .wire import HttpFailure, RpcError, bad_args, frame, ok_entry, signed_out, xsrf_challenge

log = logging.getLogger(__name__)

UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
SURFACE = 22


@dataclass
class RpcContext:
    """What a handler gets: the emulator, the request, the signed-in account, its RPC and arguments."""

    emulator: FlowWebEmulator
    request: web.Request
    account: EmulatorAccount
    rpcid: str
    args: Any
    source_path: str | None

    @property
    def email(self) -> str:
        return self.account.email


Handler = Callable[[RpcContext], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}


def rpc(rpcid: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``rpcid``."""
    def register(handler: Handler) -> Handler:
        HANDLERS[rpcid] = handler
        return handler
    return register


# -- argument checks shared by the handlers ------------------------------------------------------------------


def expect(condition: bool, detail: str) -> None:
    """``bad_args(detail)`` unless ``condition``."""
    if not condition:
        raise bad_args(detail)


def array(value: Any, where: str, *, length: int | None = None, min_len: int = 0, max_len: int | None = None) -> list:
    """``value`` if it is a list of the wanted length; else INVALID_ARGUMENT naming ``where``."""
    expect(isinstance(value, list), f"{where} must be an array")
    if length is not None:
        expect(len(value) == length, f"{where} must have {length} slots, has {len(value)}")
    expect(len(value) >= min_len, f"{where} must have at least {min_len} slots")
    expect(max_len is None or len(value) <= max_len, f"{where} must have at most {max_len} slots")
    return value


def nulls(value: list, indexes: range | tuple[int, ...], where: str) -> None:
    """The slots ``indexes`` of ``value`` (when present) must be null."""
    for i in indexes:
        expect(i >= len(value) or value[i] is None, f"{where}[{i}] must be null")


def uuid_at(value: Any, where: str) -> str:
    expect(isinstance(value, str) and bool(UUID.match(value)), f"{where} must be a UUID")
    return value


def context(rc: RpcContext, value: Any, where: str, *, captcha: bool, project_required: bool = True) -> tuple[str | None, Any]:
    """Check a client context (spec §3.1) → (project id, token); the project must be the account's."""
    ctx = array(value, where, length=11 if captcha else None, min_len=10)
    nulls(ctx, (0, 2, 3, 4, 6, 7, 8, 9), where)
    expect(ctx[1] == SURFACE, f"{where}[1] must be 22")
    project = ctx[5]
    if project is None:
        expect(not project_required, f"{where}[5] (project id) is required")
    else:
        uuid_at(project, f"{where}[5]")
        if rc.emulator.faults.take("project_gone", rc.rpcid, rc.email) is not None:
            rc.emulator.world.projects.pop(project, None)
        owned = rc.emulator.world.projects.get(project)
        if owned is None or owned.owner != rc.email:
            raise RpcError(5 if owned is None else 7, f"{where}[5]: project not found for this account")
    token = None
    if captcha:
        recaptcha = array(ctx[10], f"{where}[10]", length=2)
        expect(isinstance(recaptcha[0], str) and recaptcha[1] == 1, f"{where}[10] must be [token, 1]")
        token = recaptcha[0]
    else:
        expect(len(ctx) == 10 or ctx[10] is None, f"{where}[10] must be absent")
    return project, token


def guard_generation(rc: RpcContext, token: Any, *, action: str, project: str | None) -> None:
    """reCAPTCHA (spec §8), then the ``safety`` fault: what every generation RPC goes through."""
    rc.emulator.consume_token(token, action=action, project=project, account=rc.email, operation=rc.rpcid)
    rule = rc.emulator.faults.take("safety", rc.rpcid, rc.email)
    if rule is not None:
        raise RpcError(7, "fault-injected safety", reasons=[rule.reason or "PUBLIC_ERROR_UNSAFE_GENERATION"])


def spend(rc: RpcContext, credits: int) -> None:
    """Take ``credits`` from the account; code 8 + PublicAitkError 2 (USER_QUOTA_REACHED) when too few."""
    if rc.account.credits < credits:
        raise RpcError(8, "out of credits", aitk=[2])
    rc.account.credits -= credits


# -- the endpoint --------------------------------------------------------------------------------------------


def _check_envelope(request: web.Request, account: EmulatorAccount | None, form: Any) -> list[tuple[str, str]]:
    emulator = emulator_of(request)
    if account is None or not account.cookies_valid:
        raise signed_out("no signed-in Google session in the cookies")
    if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        raise HttpFailure(400, "Content-Type must be application/x-www-form-urlencoded",
                          entries=[["er", None, None, None, None, 400, "generic"]])
    at = form.get("at")
    if not at:
        raise signed_out("at missing")
    stale = emulator.clock() - account.at_issued > emulator.settings.xsrf_lifetime_s
    if at != account.at or stale:
        raise xsrf_challenge(emulator.current_at(account) if stale else account.at, "stale or wrong at")
    query = request.query
    problems = []
    for name in ("rpcids", "bl", "f.sid", "hl", "_reqid", "rt"):
        if not query.get(name):
            problems.append(f"query {name} missing")
    if query.get("rt") and query["rt"] != "c":
        problems.append("rt must be c")
    if query.get("bl") and not query["bl"].startswith("boq_labs-ai-sandbox-frontend_"):
        problems.append("bl is not a Flow build label")
    if query.get("f.sid") and not re.fullmatch(r"-?\d+", query["f.sid"]):
        problems.append("f.sid must be a signed integer")
    if query.get("_reqid") and not query["_reqid"].isdigit():
        problems.append("_reqid must be an integer")
    if "source-path" in query and not query["source-path"].startswith("/"):
        problems.append("source-path must be a path")
    if emulator.settings.require_same_domain and request.headers.get("X-Same-Domain") != "1":
        problems.append("X-Same-Domain: 1 missing")
    if problems:
        raise HttpFailure(400, "; ".join(problems), entries=[["er", None, None, None, None, 400, "generic"]])
    try:
        rows = json.loads(form.get("f.req") or "")
        calls = rows[0]
        parsed = [(c[0], json.loads(c[1])) for c in calls
                  if isinstance(c, list) and len(c) == 4 and isinstance(c[1], str) and c[2] is None and c[3] == "generic"]
    except (ValueError, TypeError, IndexError, KeyError):
        parsed, calls = [], None
    if not parsed or len(parsed) != len(calls or []):
        raise HttpFailure(400, "f.req is not [[[rpcid, \"<args>\", null, \"generic\"]]]",
                          entries=[["er", None, None, None, None, 400, "generic"]])
    if [p[0] for p in parsed] != query["rpcids"].split(","):
        raise HttpFailure(400, "rpcids does not match f.req", entries=[["er", None, None, None, None, 400, "generic"]])
    return parsed


async def batchexecute(request: web.Request) -> web.Response:
    """``POST /_/AiSandboxAngularFrontend/data/batchexecute``."""
    emulator = emulator_of(request)
    account = request_account(request)
    record: RecordedCall | None = request.get(RECORD)  # type: ignore[assignment]
    form = await request.post()
    if record is not None:
        record.form = {k: str(v) for k, v in form.items()}
    try:
        calls = _check_envelope(request, account, form)
    except HttpFailure as failure:
        log.info("batchexecute refused (HTTP %d): %s", failure.status, failure.detail)
        return failure.response()
    assert account is not None
    if record is not None:
        record.args = calls[0][1] if len(calls) == 1 else [c[1] for c in calls]
    entries, details = [], []
    for rpcid, args in calls:
        rc = RpcContext(emulator, request, account, rpcid, args, request.query.get("source-path"))
        handler = HANDLERS.get(rpcid)
        try:
            if handler is None:
                raise RpcError(12, f"unknown rpc {rpcid}")
            error_rule = emulator.faults.take("rpc_error", rpcid, account.email)
            if error_rule is not None:
                raise RpcError(error_rule.code, "fault-injected", reasons=[error_rule.reason] if error_rule.reason else [],
                               aitk=[error_rule.aitk] if error_rule.aitk is not None else [])
            payload = await handler(rc)
            shape_rule = emulator.faults.take("bad_shape", rpcid, account.email)
            if shape_rule is not None:
                payload = mangle(payload, shape_rule)
            entries.append(ok_entry(rpcid, payload))
        except RpcError as error:
            log.info("%s failed: code %d, %s", rpcid, error.code, error.detail)
            entries.append(error.entry(rpcid))
            details.append(f"{rpcid}: {error.detail}")
    headers = {"X-Emulator-Detail": "; ".join(details)} if details else {}
    return web.Response(text=frame(entries), content_type="application/json", charset="utf-8", headers=headers)


def register_handlers() -> None:
    """Import the handler modules (they register themselves)."""
    from . import edits, handlers, videos  # noqa: F401


register_handlers()
