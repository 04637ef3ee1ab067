"""Each pipeline stage on a bare app: only the stages under test, a trivial handler, real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from flow2api.apikeys import API_KEYS, ApiKeyStore
from flow2api.errors import ContentPolicyError, UpstreamRateLimitedError
from flow2api.limits import RATE_LIMITER, InProcessRateLimiter
from flow2api.pipeline import auth_middleware, context_middleware, errors_middleware, rate_limit_middleware
from flow2api.pipeline.context import stamp_request_id
from flow2api.request_state import STATE, Caller
from flow2api.settings import SETTINGS, RateLimitSection, Settings, SettingsHolder
from flow2api.storage import Database


async def caller_name(request: web.Request) -> web.Response:
    state = request[STATE]
    return web.json_response({"caller": state.caller.name if state.caller else None, "id": state.request_id})


def bare_app(*middlewares, prefix: str = "/v1") -> web.Application:
    app = web.Application(middlewares=[context_middleware, errors_middleware, *middlewares])
    app.on_response_prepare.append(stamp_request_id)  # the context stage's signal, as create_app registers it
    sub = web.Application()
    sub.router.add_get("/ok", caller_name)
    app.add_subapp(prefix, sub)
    return app


async def test_context_echoes_or_creates_a_request_id(aiohttp_client) -> None:
    from flow2api.storage.tasks import REQUEST_LOGS

    class Logs:
        rows: list[dict] = []

        def add(self, **row) -> None:
            self.rows.append(row)

    app = bare_app(prefix="/v1")
    app[REQUEST_LOGS] = Logs()  # type: ignore[assignment]
    client = await aiohttp_client(app)
    resp = await client.get("/v1/ok", headers={"X-Request-ID": "abc-123"})
    first = resp.headers["X-Request-ID"]
    assert first.startswith("abc-123.") and (await resp.json())["id"] == first
    again = await client.get("/v1/ok", headers={"X-Request-ID": "abc-123"})
    assert again.headers["X-Request-ID"] != first, "a repeated client id must still give a unique request id"
    resp = await client.get("/v1/ok", headers={"X-Request-ID": "bad id with spaces"})
    assert len(resp.headers["X-Request-ID"]) == 16
    assert [r["status"] for r in Logs.rows] == [200, 200, 200]


@pytest.mark.parametrize(("prefix", "surface_keys"), [("/v1", {"message", "type", "param", "code"}),
                                                       ("/v1beta", {"code", "message", "status"})])
async def test_errors_render_in_the_surface_shape_without_traces(aiohttp_client, prefix: str, surface_keys: set) -> None:
    async def policy(request: web.Request) -> web.Response:
        raise ContentPolicyError("refused by Flow")

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def limited(request: web.Request) -> web.Response:
        raise UpstreamRateLimitedError("slow down", retry_after=7.2)

    app = web.Application(middlewares=[context_middleware, errors_middleware])
    sub = web.Application()
    sub.router.add_get("/policy", policy)
    sub.router.add_get("/boom", boom)
    sub.router.add_get("/limited", limited)
    app.add_subapp(prefix, sub)
    from flow2api.storage.tasks import REQUEST_LOGS

    class Logs:
        def add(self, **row) -> None:
            return None

    app[REQUEST_LOGS] = Logs()  # type: ignore[assignment]
    client = await aiohttp_client(app)
    resp = await client.get(f"{prefix}/policy")
    body = await resp.json()
    assert resp.status == 400 and set(body["error"]) == surface_keys
    resp = await client.get(f"{prefix}/boom")
    text = await resp.text()
    assert resp.status == 500 and "secret internals" not in text and "Traceback" not in text
    resp = await client.get(f"{prefix}/limited")
    assert resp.status == 429 and resp.headers["Retry-After"] == "7"
    resp = await client.get(f"{prefix}/missing")
    assert resp.status == 404 and set((await resp.json())["error"]) == surface_keys


async def auth_app(tmp_path: Path, prefix: str = "/v1") -> tuple[web.Application, ApiKeyStore, Database]:
    app = bare_app(auth_middleware, prefix=prefix)
    from flow2api.storage.tasks import REQUEST_LOGS

    class Logs:
        def add(self, **row) -> None:
            return None

    db = Database(tmp_path / "k.db")
    await db.open()
    store = ApiKeyStore(db)
    await store.load()
    app[SETTINGS] = SettingsHolder(Settings.model_validate({"global": {"api_key": "settings-key-0123"}}))
    app[API_KEYS] = store
    app[REQUEST_LOGS] = Logs()  # type: ignore[assignment]
    return app, store, db


async def test_auth_accepts_the_settings_key_and_created_keys(aiohttp_client, tmp_path: Path) -> None:
    app, store, db = await auth_app(tmp_path)
    client = await aiohttp_client(app)
    assert (await client.get("/v1/ok")).status == 401
    assert (await client.get("/v1/ok", headers={"Authorization": "Bearer wrong"})).status == 401
    resp = await client.get("/v1/ok", headers={"Authorization": "Bearer settings-key-0123"})
    assert resp.status == 200 and (await resp.json())["caller"] == "global"
    record, key = await store.create("alice")
    resp = await client.get("/v1/ok", headers={"Authorization": f"Bearer {key}"})
    assert (await resp.json())["caller"] == "alice"
    await store.update(record.id, enabled=False)
    resp = await client.get("/v1/ok", headers={"Authorization": f"Bearer {key}"})
    assert resp.status == 401 and "disabled" in (await resp.json())["error"]["message"]
    await store.update(record.id, enabled=True, expires_at=1.0)
    resp = await client.get("/v1/ok", headers={"Authorization": f"Bearer {key}"})
    assert resp.status == 401 and "expired" in (await resp.json())["error"]["message"]
    assert key not in await resp.text()
    await db.close()


async def test_gemini_surface_also_takes_goog_api_key_and_query(aiohttp_client, tmp_path: Path) -> None:
    app, _, db = await auth_app(tmp_path, prefix="/v1beta")
    client = await aiohttp_client(app)
    assert (await client.get("/v1beta/ok", headers={"x-goog-api-key": "settings-key-0123"})).status == 200
    assert (await client.get("/v1beta/ok?key=settings-key-0123")).status == 200
    resp = await client.get("/v1beta/ok?key=nope")
    assert resp.status == 401 and (await resp.json())["error"]["status"] == "UNAUTHENTICATED"
    await db.close()


async def test_rate_limiter_windows_and_concurrency() -> None:
    now = [1000.0]
    limits = RateLimitSection(global_rpm=0, settings_key_rpm=2, settings_key_concurrency=0)
    limiter = InProcessRateLimiter(lambda: limits, clock=lambda: now[0])
    caller = Caller(name="global")
    for _ in range(2):
        async with limiter.admit(caller):
            pass
    from flow2api.errors import RateLimitError

    with pytest.raises(RateLimitError) as err:
        async with limiter.admit(caller):
            pass
    assert 59 <= err.value.retry_after <= 60
    now[0] += 60.5
    async with limiter.admit(caller):
        pass
    keyed = Caller(name="bob", key_id=5, concurrency=1)
    async with limiter.admit(keyed):
        with pytest.raises(RateLimitError, match="at most 1 at once"):
            async with limiter.admit(keyed):
                pass
    async with limiter.admit(keyed):  # released after the first finished
        pass


async def test_rate_limit_stage_answers_429_with_retry_after(aiohttp_client) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.2)
        return web.json_response({})

    @web.middleware
    async def as_global(request: web.Request, handler):
        request[STATE].caller = Caller(name="global")
        return await handler(request)

    from flow2api.storage.tasks import REQUEST_LOGS

    class Logs:
        def add(self, **row) -> None:
            return None

    app = web.Application(middlewares=[context_middleware, errors_middleware, as_global, rate_limit_middleware])
    sub = web.Application()
    sub.router.add_get("/slow", slow)
    app.add_subapp("/v1", sub)
    app[RATE_LIMITER] = InProcessRateLimiter(lambda: RateLimitSection(global_concurrency=1))
    app[REQUEST_LOGS] = Logs()  # type: ignore[assignment]
    client = await aiohttp_client(app)
    first, second = await asyncio.gather(client.get("/v1/slow"), client.get("/v1/slow"))
    statuses = sorted([first.status, second.status])
    assert statuses == [200, 429]
    refused = first if first.status == 429 else second
    assert refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"]["code"] == "rate_limit_exceeded"
