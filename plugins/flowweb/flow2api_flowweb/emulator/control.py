"""Control endpoints under ``/_emulator`` (neither recorded nor faulted).

| method path | body → answer |
|---|---|
| ``POST /_emulator/accounts`` | ``{"email", "tier"?, "credits"?, "name"?}`` → 201 ``{"email", "name", "tier", "credits", "cookies_txt", "cookies_json"}`` |
| ``GET /_emulator/accounts`` | → ``{"accounts": [{"email", "tier", "credits", "cookies_valid"}]}`` |
| ``POST /_emulator/faults`` | a fault rule (or a list) → 201 with ``id`` |
| ``GET /_emulator/faults`` · ``DELETE /_emulator/faults`` · ``DELETE /_emulator/faults/{id}`` | list · clear · remove |
| ``GET /_emulator/requests[?operation=]`` · ``DELETE /_emulator/requests`` | recorded calls · clear |
| ``DELETE /_emulator/projects[?email=]`` | → 200 ``{"forgotten": n}``: projects vanish, as after a restart |
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from .app import emulator_of


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError:
        return None


async def add_account(request: web.Request) -> web.Response:
    """``POST /_emulator/accounts`` ``{"email", "tier"?, "credits"?, "name"?}`` → 201 with the account, its session credential included; 400 for a bad body."""
    body = await _body(request)
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) or "@" not in body["email"]:
        return _bad('body must be {"email": "...", "tier"?, "credits"?, "name"?}')
    unknown = set(body) - {"email", "tier", "credits", "name"}
    if unknown:
        return _bad(f"unknown fields: {', '.join(sorted(unknown))}")
    tier, credits = body.get("tier", 1), body.get("credits", 1000)
    if not isinstance(tier, int) or not 0 <= tier <= 8 or not isinstance(credits, int) or credits < 0:
        return _bad("tier must be a paygate enum 0-8 and credits a non-negative integer")
    account = emulator_of(request).add_account(body["email"], tier=tier, credits=credits, name=body.get("name"))
    return web.json_response({"email": account.email, "name": account.name, "tier": account.tier,
                              "credits": account.credits, "cookies_txt": account.cookies_txt(),
                              "cookies_json": account.cookies_json()}, status=201)


async def list_accounts(request: web.Request) -> web.Response:
    """``GET /_emulator/accounts`` → ``{"accounts": [...]}``, every known account."""
    accounts = emulator_of(request).world.accounts.values()
    return web.json_response({"accounts": [{"email": a.email, "tier": a.tier, "credits": a.credits,
                                            "cookies_valid": a.cookies_valid} for a in accounts]})


async def add_faults(request: web.Request) -> web.Response:
    """``POST /_emulator/faults`` with one rule or a list of rules (EMULATOR.md) → 201 with the stored rule(s), ids included; 400 for an invalid rule."""
    body = await _body(request)
    items = body if isinstance(body, list) else [body]
    try:
        rules = [emulator_of(request).faults.add(item) for item in items]
    except ValidationError as exc:
        return _bad(str(exc))
    dumped = [rule.model_dump() for rule in rules]
    return web.json_response(dumped if isinstance(body, list) else dumped[0], status=201)


async def list_faults(request: web.Request) -> web.Response:
    """``GET /_emulator/faults`` → ``{"faults": [...]}``, the active rules with their remaining counts."""
    return web.json_response({"faults": [r.model_dump() for r in emulator_of(request).faults.rules]})


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE /_emulator/faults`` → 204: removes every rule."""
    emulator_of(request).faults.clear()
    return web.Response(status=204)


async def remove_fault(request: web.Request) -> web.Response:
    """``DELETE /_emulator/faults/{rule_id}`` → 204, or 404 for an unknown rule."""
    if not emulator_of(request).faults.remove(request.match_info["rule_id"]):
        return _bad("no such fault rule", 404)
    return web.Response(status=204)


async def list_requests(request: web.Request) -> web.Response:
    """``GET /_emulator/requests[?operation=…]`` → ``{"requests": [...]}``, everything received, oldest first."""
    emulator = emulator_of(request)
    operation = request.query.get("operation")
    records = emulator.calls(operation) if operation else emulator.requests
    return web.json_response({"requests": [r.to_json() for r in records]})


async def clear_requests(request: web.Request) -> web.Response:
    """``DELETE /_emulator/requests`` → 204: forgets the recorded requests."""
    emulator_of(request).requests.clear()
    return web.Response(status=204)


async def forget_projects(request: web.Request) -> web.Response:
    """``DELETE /_emulator/projects[?email=…]`` → 200 ``{"forgotten": n}``: every project (of that account) vanishes,
    as after an emulator restart, so clients see upstream's NOT_FOUND for their stored projects."""
    return web.json_response({"forgotten": emulator_of(request).world.forget_projects(request.query.get("email"))})


def add_control_routes(app: web.Application) -> None:
    """Register the ``/_emulator`` routes."""
    app.router.add_post("/_emulator/accounts", add_account)
    app.router.add_get("/_emulator/accounts", list_accounts)
    app.router.add_post("/_emulator/faults", add_faults)
    app.router.add_get("/_emulator/faults", list_faults)
    app.router.add_delete("/_emulator/faults", clear_faults)
    app.router.add_delete("/_emulator/faults/{rule_id}", remove_fault)
    app.router.add_get("/_emulator/requests", list_requests)
    app.router.add_delete("/_emulator/requests", clear_requests)
    app.router.add_delete("/_emulator/projects", forget_projects)
