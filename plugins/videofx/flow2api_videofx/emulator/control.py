"""Control endpoints under ``{base}/_emulator`` (never recorded, never faulted).

| method path | body → answer |
|---|---|
| ``POST /_emulator/accounts`` | ``{"email", "tier"?, "credits"?, "name"?}`` → 201 ``{"email", "name", "st", "tier", "credits"}`` |
| ``GET /_emulator/accounts`` | → ``{"accounts": [...]}`` |
| ``POST /_emulator/faults`` | a `FaultRule` JSON (or a list of them) → 201 the rule(s) with ``id`` |
| ``GET /_emulator/faults`` | → ``{"faults": [...]}`` (with ``fired`` counters) |
| ``DELETE /_emulator/faults`` · ``DELETE /_emulator/faults/{id}`` | → 204 |
| ``GET /_emulator/requests[?operation=]`` | → ``{"requests": [RecordedRequest, ...]}`` |
| ``DELETE /_emulator/requests`` | → 204 |
| ``DELETE /_emulator/projects[?email=]`` | → 200 ``{"forgotten": n}``: projects vanish, as after a restart |

Errors are ``{"error": "<message>"}`` with status 400/404.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from .keys import EMULATOR
from .settings import PAYGATE_TIERS


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"invalid JSON: {exc}"}),
                                 content_type="application/json") from None


async def add_account(request: web.Request) -> web.Response:
    """``POST /_emulator/accounts`` ``{"email", "tier"?, "credits"?, "name"?}`` → 201 with the account, its session credential included; 400 for a bad body."""
    body = await _body(request)
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) or "@" not in body["email"]:
        return _bad("body must be {\"email\": \"...\", \"tier\"?, \"credits\"?, \"name\"?}")
    unknown = set(body) - {"email", "tier", "credits", "name"}
    if unknown:
        return _bad(f"unknown fields: {', '.join(sorted(unknown))}")
    tier = body.get("tier", "PAYGATE_TIER_ONE")
    credits = body.get("credits", 1000)
    if tier not in PAYGATE_TIERS:
        return _bad(f"tier must be one of {', '.join(PAYGATE_TIERS)}")
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        return _bad("credits must be a non-negative integer")
    account = request.app[EMULATOR].add_account(body["email"], tier=tier, credits=credits, name=body.get("name"))
    return web.json_response(asdict(account), status=201)


async def list_accounts(request: web.Request) -> web.Response:
    """``GET /_emulator/accounts`` → ``{"accounts": [...]}``, every known account."""
    return web.json_response({"accounts": [asdict(a) for a in request.app[EMULATOR].world.accounts.values()]})


async def add_faults(request: web.Request) -> web.Response:
    """``POST /_emulator/faults`` with one rule or a list of rules (EMULATOR.md) → 201 with the stored rule(s), ids included; 400 for an invalid rule."""
    body = await _body(request)
    items = body if isinstance(body, list) else [body]
    try:
        rules = [request.app[EMULATOR].faults.add(item) for item in items]
    except ValidationError as exc:
        return _bad(str(exc))
    dumped = [rule.model_dump() for rule in rules]
    return web.json_response(dumped if isinstance(body, list) else dumped[0], status=201)


async def list_faults(request: web.Request) -> web.Response:
    """``GET /_emulator/faults`` → ``{"faults": [...]}``, the active rules with their remaining counts."""
    return web.json_response({"faults": [rule.model_dump() for rule in request.app[EMULATOR].faults.rules]})


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE /_emulator/faults`` → 204: removes every rule."""
    request.app[EMULATOR].faults.clear()
    return web.Response(status=204)


async def remove_fault(request: web.Request) -> web.Response:
    """``DELETE /_emulator/faults/{rule_id}`` → 204, or 404 for an unknown rule."""
    if not request.app[EMULATOR].faults.remove(request.match_info["rule_id"]):
        return _bad("no such fault rule", 404)
    return web.Response(status=204)


async def list_requests(request: web.Request) -> web.Response:
    """``GET /_emulator/requests[?operation=…]`` → ``{"requests": [...]}``, everything received, oldest first."""
    emulator = request.app[EMULATOR]
    operation = request.query.get("operation")
    records = emulator.calls(operation) if operation else list(emulator.requests)
    return web.json_response({"requests": [r.to_json() for r in records]})


async def clear_requests(request: web.Request) -> web.Response:
    """``DELETE /_emulator/requests`` → 204: forgets the recorded requests."""
    request.app[EMULATOR].requests.clear()
    return web.Response(status=204)


async def forget_projects(request: web.Request) -> web.Response:
    """``DELETE /_emulator/projects[?email=…]`` → 200 ``{"forgotten": n}``: every project (of that account) vanishes,
    as after an emulator restart, so clients see upstream's NOT_FOUND for their stored projects."""
    return web.json_response({"forgotten": request.app[EMULATOR].world.forget_projects(request.query.get("email"))})


def add_control_routes(app: web.Application) -> None:
    """Register the ``/_emulator`` routes on ``app``."""
    app.router.add_post("/_emulator/accounts", add_account)
    app.router.add_get("/_emulator/accounts", list_accounts)
    app.router.add_post("/_emulator/faults", add_faults)
    app.router.add_get("/_emulator/faults", list_faults)
    app.router.add_delete("/_emulator/faults", clear_faults)
    app.router.add_delete("/_emulator/faults/{rule_id}", remove_fault)
    app.router.add_get("/_emulator/requests", list_requests)
    app.router.add_delete("/_emulator/requests", clear_requests)
    app.router.add_delete("/_emulator/projects", forget_projects)
