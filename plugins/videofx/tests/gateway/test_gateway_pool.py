"""The pool against the emulator with several accounts: limits, balancing, cool-down, bans, failover, proxies.

Upstream behaviour is observed from the emulator's own request log (which
account each generation came from), not from the pool's counters.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path
from typing import Any

import pproxy
import pytest
from aiohttp import web
from flow2api_videofx.emulator import EmulatorSettings, FaultRule, FlowEmulator
from openai import APIStatusError, AsyncOpenAI

from flow2api.pool.maintenance import maintain_once
from flow2api.proxies import HTTP_SESSIONS
from videofx_gateway import API_KEY, Gateway, Upstream, make_settings

MODEL = "gemini-3.1-flash-image-landscape"


_clients: dict[str, AsyncOpenAI] = {}


@pytest.fixture(autouse=True)
async def _close_clients():
    yield
    for sdk in _clients.values():
        await sdk.close()
    _clients.clear()


def client(gw: Gateway) -> AsyncOpenAI:
    """One SDK client per gateway (closed after the test), as a real application would hold it."""
    if gw.url not in _clients:
        _clients[gw.url] = AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=API_KEY, max_retries=0, timeout=60)
    return _clients[gw.url]


async def generate(gw: Gateway, prompt: str = "a kite") -> str:
    completion = await client(gw).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}])
    return completion.choices[0].message.content


async def add_accounts(gw: Gateway, upstream: Upstream, count: int, **fields) -> list[str]:
    emails = []
    for i in range(count):
        account = upstream.emulator.add_account(f"user{i}@example.com", tier="PAYGATE_TIER_ONE")
        await gw.pool.add("videofx", {"st": account.st}, **fields)
        emails.append(account.email)
    return emails


def generations_by_account(upstream: Upstream) -> collections.Counter:
    return collections.Counter(r.account for r in upstream.emulator.calls("batchGenerateImages") if r.status == 200)


async def metered_upstream(aiohttp_server) -> tuple[Upstream, dict[str, int]]:
    """An emulator whose app counts the highest number of generation calls in progress at once, per AT."""
    peak: dict[str, int] = collections.defaultdict(int)
    now: dict[str, int] = collections.defaultdict(int)

    @web.middleware
    async def meter(request: web.Request, handler):
        key = request.headers.get("authorization", "") if "batchGenerateImages" in request.path else None
        if key is None:
            return await handler(request)
        now[key] += 1
        peak[key] = max(peak[key], now[key])
        try:
            await asyncio.sleep(0.01)  # hold the slot a little so overlaps are visible
            return await handler(request)
        finally:
            now[key] -= 1

    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0))
    app = emulator.app()
    app.middlewares.insert(0, meter)
    return Upstream(emulator, await aiohttp_server(app)), peak


async def test_concurrency_limits_hold_under_200_concurrent_requests(tmp_path: Path, aiohttp_server, start_gateway) -> None:
    upstream, peak = await metered_upstream(aiohttp_server)
    gw = await start_gateway(make_settings(tmp_path, upstream, generation={"image_slot_wait_timeout": 60}))
    await add_accounts(gw, upstream, 3, image_concurrency=2)
    results = await asyncio.gather(*(generate(gw, f"p{i}") for i in range(200)))
    assert all(r.startswith("![Generated Image](") for r in results)
    assert sum(generations_by_account(upstream).values()) == 200
    assert len(peak) == 3 and max(peak.values()) == 2, dict(peak)


async def test_round_robin_spreads_evenly(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, call_logic={"call_mode": "round_robin"}))
    emails = await add_accounts(gw, upstream, 3)
    for i in range(30):
        await generate(gw, f"p{i}")
    assert generations_by_account(upstream) == {e: 10 for e in emails}


async def test_429_moves_traffic_and_the_account_comes_back(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, call_logic={"call_mode": "round_robin"}))
    first, second = await add_accounts(gw, upstream, 2)
    upstream.emulator.faults.add(FaultRule(kind="status", status=429, retry_after=1, account=first,
                                           operation="batchGenerateImages", count=1))
    assert (await generate(gw)).startswith("![")  # first tried, 429, failed over to second
    assert generations_by_account(upstream) == {second: 1}
    assert gw.pool.counts()["cooling_down"] == 1
    await generate(gw)
    assert generations_by_account(upstream) == {second: 2}, "a cooling account must not be used"
    await asyncio.sleep(1.1)
    await generate(gw)
    await generate(gw)
    assert generations_by_account(upstream)[first] == 1, "the account must come back after Retry-After"
    assert gw.pool.counts()["cooling_down"] == 0


async def one_of_two_failing(tmp_path: Path, upstream: Upstream, start_gateway, requests: int, **admin: object) -> Any:
    """Two round-robin accounts, the first answering HTTP 500 to image jobs, and ``requests`` images made (each one
    succeeds by failover, on the other account); returns the failing account's pool record."""
    gw = await start_gateway(make_settings(tmp_path, upstream, admin={"error_ban_threshold": 2, **admin},
                                           call_logic={"call_mode": "round_robin"}))
    bad, good = await add_accounts(gw, upstream, 2)
    upstream.emulator.faults.add(FaultRule(kind="status", status=500, account=bad, operation="batchGenerateImages"))
    for _ in range(requests):
        assert (await generate(gw)).startswith("![")
    assert generations_by_account(upstream) == {good: requests}
    return next(r for r in gw.pool.records() if r.email == bad)


async def test_upstream_errors_fail_over_without_disabling_by_default(
    tmp_path: Path, upstream: Upstream, start_gateway,
) -> None:
    record = await one_of_two_failing(tmp_path, upstream, start_gateway, 6)
    assert record.enabled and record.consecutive_errors == 0 and record.last_error


async def test_a_solver_without_a_token_lets_the_same_account_try_again(
    tmp_path: Path, upstream: Upstream, start_gateway,
) -> None:
    # The solver is the same for every account: its failure says nothing against the one account there is.
    gw = await start_gateway(make_settings(tmp_path, upstream, captcha={"solver_attempts": 1}))
    (only,) = await add_accounts(gw, upstream, 1)
    upstream.emulator.faults.add(FaultRule(kind="status", status=503, operation="getTaskResult", count=2))
    assert (await generate(gw, "after two lost solves")).startswith("![")
    assert len(upstream.emulator.calls("createTask")) == 3
    assert generations_by_account(upstream) == {only: 1}
    record = gw.pool.records()[0]
    assert record.enabled and record.consecutive_errors == 0


async def test_error_threshold_disables_an_account(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    record = await one_of_two_failing(tmp_path, upstream, start_gateway, 4, ban_on_upstream_errors=True)
    assert not record.enabled and record.ban_reason == "2 consecutive errors" and record.last_error


async def test_failover_gives_success_without_duplicate_generation(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, call_logic={"call_mode": "round_robin"}))
    emails = await add_accounts(gw, upstream, 3)
    upstream.emulator.faults.add(FaultRule(kind="status", status=503, account=emails[0], operation="batchGenerateImages"))
    for i in range(6):
        assert (await generate(gw, f"p{i}")).startswith("![")
    ok = generations_by_account(upstream)
    assert sum(ok.values()) == 6 and emails[0] not in ok, "one upstream generation per client request"


async def test_dead_session_token_disables_with_session_expired(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, flow={"at_refresh_margin": 0}))
    account = upstream.emulator.add_account("gone@example.com")
    await gw.pool.add("videofx", {"st": account.st})
    upstream.emulator.faults.add(FaultRule(kind="expire_at", account=account.email))
    upstream.emulator.world.accounts.pop(account.email)  # the ST is revoked too: session answers {}
    with pytest.raises(APIStatusError) as err:
        await generate(gw)
    assert err.value.status_code == 502 and err.value.body["code"] == "upstream_credential_rejected"
    record = gw.pool.records()[0]
    assert not record.enabled and record.ban_reason == "session expired"
    assert gw.pool.counts()["disabled"] == 1


async def test_expired_access_token_is_refreshed_and_the_request_succeeds(
    tmp_path: Path, upstream: Upstream, start_gateway
) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, flow={"at_refresh_margin": 0}))
    account = upstream.emulator.add_account("early@example.com")
    await gw.pool.add("videofx", {"st": account.st})
    old_at = gw.pool.records()[0].secrets["at"]
    upstream.emulator.faults.add(FaultRule(kind="expire_at", account=account.email, count=1))
    assert (await generate(gw)).startswith("![")
    record = gw.pool.records()[0]
    assert record.enabled and record.secrets["at"] != old_at
    assert len(upstream.emulator.calls("auth.session")) == 2  # add + the refresh after the 401


async def test_busy_accounts_make_requests_wait_then_503(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, generation={"image_slot_wait_timeout": 0.3}))
    await add_accounts(gw, upstream, 1, image_concurrency=1)
    await generate(gw, "warm-up")  # the SDK's first connection must not race the test's timing
    upstream.emulator.faults.add(FaultRule(kind="latency", latency_ms=1500, operation="batchGenerateImages", count=1))
    slow = asyncio.create_task(generate(gw, "slow"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    with pytest.raises(APIStatusError) as err:
        await generate(gw, "impatient")
    assert err.value.status_code == 503 and "busy" in err.value.message
    assert 0.25 < time.monotonic() - started < 1.2
    assert (await slow).startswith("![")


async def test_waiters_are_served_in_arrival_order(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, generation={"image_slot_wait_timeout": 30}))
    await add_accounts(gw, upstream, 1, image_concurrency=1)
    prompts = [f"order-{i}" for i in range(6)]
    tasks = []
    for prompt in prompts:
        tasks.append(asyncio.create_task(generate(gw, prompt)))
        await asyncio.sleep(0.02)
    await asyncio.gather(*tasks)
    sent = [r.json["requests"][0]["structuredPrompt"]["parts"][0]["text"] for r in upstream.emulator.calls("batchGenerateImages")]
    assert sent == prompts


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "http"])
async def test_account_proxy_carries_the_upstream_traffic(tmp_path: Path, upstream: Upstream, start_gateway, scheme: str) -> None:
    seen: list[str] = []
    server = pproxy.Server(f"{'http' if scheme == 'http' else 'socks5'}://127.0.0.1:0")
    handler = await server.start_server({"rserver": [], "verbose": seen.append})
    try:
        port = handler.sockets[0].getsockname()[1]
        gw = await start_gateway(make_settings(tmp_path, upstream))
        await add_accounts(gw, upstream, 1, proxy_url=f"{scheme}://127.0.0.1:{port}")
        assert seen, "adding the account did not go through its proxy"
        await gw.app[HTTP_SESSIONS].close()  # drop pooled keep-alive connections: generation must open its own
        seen.clear()
        assert (await generate(gw)).startswith("![")
        assert seen, "no generation traffic went through the proxy"
        assert list(gw.app[HTTP_SESSIONS]._sessions) == [f"{scheme}://127.0.0.1:{port}"], "no direct session used"
    finally:
        handler.close()
        await handler.wait_closed()


async def test_unreachable_proxy_is_reported_as_a_proxy_error(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, generation={"max_retries": 0}))
    account = upstream.emulator.add_account("p@example.com")
    await gw.pool.add("videofx", {"st": account.st})
    await gw.pool.update(gw.pool.records()[0].id, proxy_url="socks5://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(APIStatusError) as err:
        await generate(gw)
    assert err.value.status_code == 502
    assert err.value.body["code"] == "proxy_error" and "proxy" in err.value.message
    record = gw.pool.records()[0]
    assert record.consecutive_errors == 0 and record.enabled, "a dead proxy is not the account's fault"
    assert gw.pool.proxy_failures == {"socks5://127.0.0.1:9": 1}


async def test_background_maintenance_refreshes_credentials_and_credits(
    tmp_path: Path, upstream: Upstream, start_gateway
) -> None:
    # AT lifetime is 1 day in the fixture: a 2-day margin makes every AT "due".
    gw = await start_gateway(make_settings(tmp_path, upstream, flow={"at_refresh_margin": 2 * 86400},
                                           admin={"credits_refresh_interval": 0}))
    live = upstream.emulator.add_account("live@example.com", credits=100)
    dead = upstream.emulator.add_account("dead@example.com")
    await gw.pool.add("videofx", {"st": live.st})
    await gw.pool.add("videofx", {"st": dead.st})
    upstream.emulator.add_account("live@example.com", credits=77)  # spent elsewhere
    upstream.emulator.world.accounts.pop("dead@example.com")  # its session token was revoked
    sessions_before = len(upstream.emulator.calls("auth.session"))
    assert await maintain_once(gw.pool) == 1
    assert len(upstream.emulator.calls("auth.session")) == sessions_before + 2
    by_email = {r.email: r for r in gw.pool.records()}
    assert by_email["live@example.com"].credits == 77 and by_email["live@example.com"].enabled
    assert not by_email["dead@example.com"].enabled and by_email["dead@example.com"].ban_reason == "session expired"


async def test_credits_are_re_read_when_stale(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    gw = await start_gateway(make_settings(tmp_path, upstream, admin={"credits_refresh_interval": 3600}))
    account = upstream.emulator.add_account("c@example.com", credits=10)
    await gw.pool.add("videofx", {"st": account.st})
    upstream.emulator.add_account("c@example.com", credits=9)
    assert await maintain_once(gw.pool, now=time.time() + 7200) == 1
    assert gw.pool.records()[0].credits == 9
