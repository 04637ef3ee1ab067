"""The route → token selection → proxy routing stages and the job engine's failover on a bare app: a fake provider
family, a real pool and task rows over SQLite, no upstream. The handler runs once; the engine retries inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from flow2api.api.runs import start_job
from flow2api.api.schemas import ChatCompletionRequest
from flow2api.catalog import CATALOG, CatalogHolder
from flow2api.discovery import PROVIDERS
from flow2api.errors import ContentPolicyError, Flow2APIError, UpstreamUnavailableError
from flow2api.jobs import Collaborators, JobEngine, Result
from flow2api.jobs.engine import ENGINE
from flow2api.media import MediaCache
from flow2api.metrics import Metrics
from flow2api.pipeline import context_middleware, errors_middleware, generation
from flow2api.pipeline.proxy import proxy_middleware
from flow2api.pipeline.route import route_middleware
from flow2api.pipeline.selection import selection_middleware
from flow2api.plugin import Kind, MediaOutput, Progress
from flow2api.pool import POOL, AccountPool
from flow2api.proxies import HTTP_SESSIONS, HttpSessions
from flow2api.request_state import STATE, Caller
from flow2api.settings import SETTINGS, Settings, SettingsHolder
from flow2api.storage import Database, SecretBox
from flow2api.storage.accounts import AccountRepository
from flow2api.storage.tasks import REQUEST_LOGS, TaskRepository
from flow2api.storage.usage import UsageRepository
from flow2api.testing import FAKE_FAMILY, FakeProvider, Script, Step

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def fake_provider() -> FakeProvider:
    """``fake-image`` of :mod:`flow2api.testing`: each attempt plays the next plan of ``provider.script.plans``
    (:func:`failing`, :func:`committed_then_failing`), else one PNG; ``script.calls`` keeps every call."""
    return FakeProvider("fake-image", Kind.IMAGE, script=Script(default=[
        MediaOutput(kind=Kind.IMAGE, data=PNG, mime_type="image/png")]))


def failing(error: Flow2APIError) -> list[Step]:
    """A plan that raises ``error`` before any event (the engine may fail over)."""
    return [error]


def committed_then_failing() -> list[Step]:
    """A plan that yields a progress event (the commit point), then fails with a 5xx."""
    return [Progress("working"), UpstreamUnavailableError("failed after commit")]


CATALOG_YAML = "version: 1\nmodels:\n- id: fake\n  kind: image\n  routes:\n  - provider: fake-image\n"


class Logs:
    def add(self, **row: Any) -> None:
        return None


@pytest.fixture
async def bare(tmp_path: Path, aiohttp_client):
    """``(client, pool, provider)``: the provider's ``script.plans`` say what each attempt does."""
    provider = fake_provider()
    handled: list[str] = []

    @web.middleware
    async def as_global(request: web.Request, handler):
        request[STATE].caller = Caller(name="global")
        return await handler(request)

    @generation(ChatCompletionRequest)
    async def handler(request: web.Request) -> web.Response:
        state = request[STATE]
        handled.append(state.request_id)
        events = start_job(request, task_id=state.request_id, prompt="p", surface="chat", row={})
        results = [e async for e in events if isinstance(e, Result)]
        http = provider.script.calls[-1].http
        proxy = next((k for k, v in request.config_dict[HTTP_SESSIONS]._sessions.items() if v is http), "?")
        email = request.config_dict[POOL].view(state.account_id).email
        return web.json_response({"account": email, "attempt": len(provider.script.calls), "proxy": proxy,
                                  "results": len(results), "handled": handled.count(state.request_id)})

    db = Database(tmp_path / "f.db")
    await db.open()
    catalog_file = tmp_path / "models.yaml"
    catalog_file.write_text(CATALOG_YAML, encoding="utf-8")
    settings = Settings.model_validate({"proxy": {"proxy_enabled": True, "proxy_url": "socks5://127.0.0.1:1"},
                                        "generation": {"max_retries": 1, "image_slot_wait_timeout": 0}})
    holder = SettingsHolder(settings)
    providers = {"fake-image": provider}
    http = HttpSessions()
    pool = AccountPool(AccountRepository(db, SecretBox(Fernet.generate_key())), settings=holder,
                       families={"fake": FAKE_FAMILY}, http=http)
    app = web.Application(middlewares=[context_middleware, errors_middleware])
    v1 = web.Application(middlewares=[as_global, route_middleware, selection_middleware, proxy_middleware])
    v1.router.add_post("/generate", handler)
    app.add_subapp("/v1", v1)
    app[SETTINGS], app[PROVIDERS], app[POOL], app[HTTP_SESSIONS] = holder, providers, pool, http
    app[CATALOG] = CatalogHolder.load(catalog_file, providers)
    app[REQUEST_LOGS] = Logs()  # type: ignore[assignment]
    app[ENGINE] = JobEngine(Collaborators(
        tasks=TaskRepository(db), pool=pool, providers=providers, media=MediaCache(tmp_path / "media"),
        usage=UsageRepository(db), metrics=Metrics(), settings=holder,
    ))
    client = await aiohttp_client(app)
    yield client, pool, provider
    await http.close()
    await db.close()


async def post(client) -> tuple[int, dict]:
    resp = await client.post("/v1/generate", json={"model": "fake", "messages": [{"role": "user", "content": "p"}]})
    return resp.status, await resp.json()


async def test_account_fault_fails_over_to_the_next_account(bare) -> None:
    client, pool, provider = bare
    plans = provider.script.plans
    await pool.add("fake", {"token": "a"})
    await pool.add("fake", {"token": "b"})
    plans.append(failing(UpstreamUnavailableError("boom")))
    status, body = await post(client)
    assert status == 200 and body["attempt"] == 2
    assert body["handled"] == 1 and body["results"] == 1  # the engine failed over inside one handler run
    assert pool.in_flight(1, "image") == pool.in_flight(2, "image") == 0
    failed = next(r for r in pool.records() if r.last_error)
    assert failed.email != body["account"] and failed.last_error == "boom"
    assert failed.consecutive_errors == 0  # an upstream 5xx says nothing about the account ([admin] ban_on_upstream_errors)


async def test_no_failover_after_commit_or_for_request_errors(bare) -> None:
    client, pool, provider = bare
    plans = provider.script.plans
    await pool.add("fake", {"token": "a"})
    await pool.add("fake", {"token": "b"})
    plans.append(committed_then_failing())
    status, body = await post(client)
    assert status == 502 and body["error"]["code"] == "upstream_unavailable"
    plans.append(failing(ContentPolicyError("no")))
    status, body = await post(client)
    assert status == 400 and body["error"]["code"] == "content_policy_violation"
    assert all(pool.in_flight(r.id, "image") == 0 for r in pool.records())
    # Only the upstream failure is recorded against an account; policy refusals are not the account's fault.
    assert [r.last_error for r in pool.records() if r.last_error] == ["failed after commit"]
    assert sum(r.consecutive_errors for r in pool.records()) == 0  # 5xx do not count towards bans by default


async def test_retries_are_bounded_by_max_retries(bare) -> None:
    client, pool, provider = bare
    plans = provider.script.plans
    for token in "abc":
        await pool.add("fake", {"token": token})
    plans.extend(failing(UpstreamUnavailableError(n)) for n in "123")
    status, body = await post(client)
    assert status == 502 and body["error"]["message"] == "2"  # max_retries = 1: two attempts, the last error wins
    assert [str(plan[0]) for plan in plans] == ["3"]  # the third error was never reached


async def test_proxy_stage_picks_the_account_proxy_else_the_global_one(bare) -> None:
    client, pool, _ = bare
    record = await pool.add("fake", {"token": "a"})
    status, body = await post(client)
    assert status == 200 and body["proxy"] == "socks5://127.0.0.1:1"
    await pool.update(record.id, proxy_url="http://127.0.0.1:2")
    status, body = await post(client)
    assert body["proxy"] == "http://127.0.0.1:2"


async def test_credits_floor_skips_poor_accounts(bare) -> None:
    client, pool, _ = bare
    poor = await pool.add("fake", {"token": "poor"})
    rich = await pool.add("fake", {"token": "rich"})
    await pool.update(poor.id, credits=3)
    await pool.update(rich.id, credits=500)
    client.app[SETTINGS].update(call_logic={"call_mode": "credits", "credits_floor": 10})
    for _ in range(3):
        assert (await post(client))[1]["account"] == "rich@fake.test"
    await pool.update(rich.id, credits=5)
    status, body = await post(client)
    assert status == 503 and "below the credits floor" in body["error"]["message"]


async def test_upstream_sessions_never_carry_one_accounts_cookies_to_another(aiohttp_server) -> None:  # noqa: ANN001
    seen: list[str] = []

    async def rotate(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie", ""))
        response = web.Response(text="ok")
        response.set_cookie("__Secure-1PSIDTS", f"rotated-for-{request.query['account']}")
        return response

    app = web.Application()
    app.router.add_get("/rpc", rotate)
    server = await aiohttp_server(app)
    sessions = HttpSessions()
    try:
        http = sessions.get(None)
        for account in ("alice", "bob"):  # both behind the same (direct) session, each with its own cookie
            # A host name, not 127.0.0.1: aiohttp's default jar ignores cookies of IP addresses.
            async with http.get(f"http://localhost:{server.port}/rpc?account={account}",
                                headers={"Cookie": f"__Secure-1PSIDTS=own-{account}"}) as resp:
                assert resp.status == 200
    finally:
        await sessions.close()
    assert seen == ["__Secure-1PSIDTS=own-alice", "__Secure-1PSIDTS=own-bob"]
