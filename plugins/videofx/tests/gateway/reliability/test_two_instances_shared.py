"""Drill (issue 17, "Must show"): two ``flow2api serve`` processes on one PostgreSQL + Redis + S3 (moto) against the
labs.google/fx emulator served in this test process, behind no balancer: the test alternates instances.

Phases, in this order (one cluster, so the < 90 s budget pays the start-up once):

a. account 1 has ``image_concurrency = 1`` and is the only image account: 50 concurrent image requests, split
   over A and B, all succeed and the emulator never has two ``batchGenerateImages`` of it in flight at once
   (counted by a middleware in the emulator's app, :class:`InFlight`);
b. a key with ``rpm = 10`` (the limiter's window is 60 s): 20 requests fired at once over both → exactly 10
   succeed and 10 are 429 in the OpenAI error shape;
d. ``kill -9`` of A with 50 Videos API jobs rendering: all 50 complete through B, each submitted upstream
   once (the emulator's request log), and every MP4 downloads from B and from A restarted (media in S3);
c. keys created with the CLI while both run are served by B within 1 s; one revoked through A's admin API and
   one through ``flow2api keys revoke`` are refused by B within 1 s; account 1 (B's only image account)
   disabled through A's admin API is not used by B 1 s later (503 ``no_account_available``, no generation
   upstream), and account 2 given images through A's API serves B's images 1 s later.

Leases of 2 s and claims every 0.5 s (as test_two_instances.py), 16 px images, 32 status polls at 0.25 s per
video (8 s: all 50 still render at the kill).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator
from flow2api_videofx.emulator.keys import CONTEXT
from videofx_drills import instance_config, prompt_of, taken_over, video_submits
from videofx_gateway import IMAGE_MODEL

from flow2api.testing import AdminClient, S3Server, run_cli
from flow2api.testing.crash import API_KEY, all_completed_and_served, resumable
from flow2api.testing.processes import free_port, spawn_cli, stop, wait_ready

pytestmark = [pytest.mark.reliability, pytest.mark.slow]
log_ = logging.getLogger(__name__)

IMAGES = 50
JOBS = 50
RPM = 10
GENERATE = "batchGenerateImages"
VIDEO_MODEL = "veo_3_1_t2v_fast_landscape"
WITHIN = 1.0  # seconds a change may take to reach the other instance (issue 17 item 3)


class InFlight:
    """Counts the emulator's image generations in flight per account (e-mail): now, the most at once, in total."""

    def __init__(self) -> None:
        self.now: collections.Counter[str | None] = collections.Counter()
        self.most: collections.Counter[str | None] = collections.Counter()
        self.total: collections.Counter[str | None] = collections.Counter()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Inside the recording middleware (which names the account in ``request[CONTEXT]``); counts only
        ``batchGenerateImages``."""
        context = request.get(CONTEXT)
        if context is None or context.operation != GENERATE:
            return await handler(request)
        account = context.account
        self.now[account] += 1
        self.total[account] += 1
        self.most[account] = max(self.most[account], self.now[account])
        try:
            return await handler(request)
        finally:
            self.now[account] -= 1


def is_openai_error(body: Any, code: str) -> bool:
    """Whether ``body`` is exactly ``{"error": {message, type, param, code}}`` with ``code``."""
    return (isinstance(body, dict) and set(body) == {"error"}
            and set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["code"] == code)


async def cli(config: tuple[str, ...], *args: str, stdin: str | None = None) -> str:
    """Run ``flow2api *args`` with an instance's settings to its end; its stdout (fails on a non-zero exit)."""
    code, out, err = await run_cli(*args, *config, stdin=stdin)
    assert code == 0, err[-2000:]
    return out


async def until_status(http: aiohttp.ClientSession, url: str, key: str, status: int) -> float:
    """Poll ``GET {url}/v1/models`` with ``key`` every 20 ms until it answers ``status``; seconds it took (at most
    3 s, else ``AssertionError``). A refusal must be the OpenAI error shape."""
    start = time.monotonic()
    while True:
        async with http.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}) as resp:
            body = await resp.json()
        if resp.status == status:
            assert status == 200 or is_openai_error(body, "invalid_api_key"), body
            return time.monotonic() - start
        assert time.monotonic() - start < 3, f"{url} still answers {resp.status} after 3 s"
        await asyncio.sleep(0.02)


async def test_two_instances_share_slots_limits_changes_and_video_jobs(
        tmp_path: Path, aiohttp_server: Callable, postgres_url: str, redis_url: str, s3_server: S3Server,
        s3_cache: dict[str, Any]) -> None:
    emulator = FlowEmulator(EmulatorSettings(
        at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=32, image_size=16,
        max_recorded_requests=200_000))
    emulator.faults.add({"kind": "latency", "operation": GENERATE, "latency_ms": 30})  # a generation takes time
    in_flight = InFlight()
    app = emulator.app()
    app.middlewares.insert(1, in_flight.middleware)
    base = str((await aiohttp_server(app)).make_url("")).rstrip("/")
    accounts = [emulator.add_account(f"shared{i}@example.com", tier="PAYGATE_TIER_TWO", credits=10_000_000)
                for i in range(2)]
    emails = [a.email for a in accounts]

    def generated_by() -> dict[str | None, str | None]:
        """``{prompt: account e-mail}`` of every image generation the emulator answered 200."""
        return {prompt_of(r.json): r.account for r in emulator.calls(GENERATE) if r.status == 200}

    secret_key = Fernet.generate_key().decode()
    log = tmp_path / "servers.log"

    def config(name: str) -> tuple[str, ...]:
        return instance_config(
            tmp_path, name, emulator, base, storage={"url": postgres_url, "secret_key": secret_key},
            coordination={"redis_url": redis_url}, cache=s3_cache, flow={"poll_interval": 0.25},
            generation={"video_workers": JOBS, "video_slot_wait_timeout": 60, "image_slot_wait_timeout": 60})

    # the first account: one image generation at a time; the second: no images (the original's import format)
    tokens = tmp_path / "accounts.json"
    tokens.write_text(json.dumps({"tokens": [{"session_token": accounts[0].st, "image_concurrency": 1},
                                             {"session_token": accounts[1].st, "image_enabled": False}]}))
    _, created = await asyncio.gather(cli(config("A"), "accounts", "import", str(tokens)),
                                      cli(config("A"), "keys", "create", "--name", "rpm", "--rpm", str(RPM)))
    rpm_key = created.split()[-1]

    ports = {name: free_port() for name in ("A", "B")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    servers = {name: await spawn_cli("serve", "--no-demo", *config(name), "--port", str(ports[name]), log=log)
               for name in ("A", "B")}
    admin = AdminClient(urls["A"])
    auth = {"Authorization": f"Bearer {API_KEY}"}
    secrets = [*(a.st for a in accounts), API_KEY, rpm_key, secret_key, s3_cache["s3_secret_access_key"]]
    began, took = time.monotonic(), {}
    making_keys: asyncio.Task | None = None
    try:
        await asyncio.gather(*(wait_ready(urls[name], servers[name]) for name in servers))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as http:
            for name in servers:
                async with http.get(f"{urls[name]}/health") as resp:
                    health = await resp.json()
                backends = (health["storage"]["backend"], health["coordination"]["backend"], health["media"]["backend"])
                assert health["instance"] == name and backends == ("postgresql", "redis", "s3"), health

            async def image(i: int, prompt: str, key: str = API_KEY) -> tuple[int, Any]:
                body = {"model": IMAGE_MODEL, "prompt": prompt, "response_format": "url"}
                async with http.post(f"{urls['AB'[i % 2]]}/v1/images/generations", json=body,
                                     headers={"Authorization": f"Bearer {key}"}) as resp:
                    return resp.status, await resp.json()

            took["ready"] = time.monotonic() - began
            # a. 50 at once over both instances, one account allowed one generation at a time
            answers = await asyncio.gather(*(image(i, f"slot {i}") for i in range(IMAGES)))
            assert [status for status, _ in answers] == [200] * IMAGES, [a for a in answers if a[0] != 200][:3]
            assert in_flight.total[emails[0]] == IMAGES and in_flight.most[emails[0]] == 1, in_flight.most

            took["a"] = time.monotonic() - began
            # b. rpm = 10 across both instances: 20 fired at once → 10 generated, 10 refused in OpenAI's shape
            answers = await asyncio.gather(*(image(i, f"rpm {i}", rpm_key) for i in range(2 * RPM)))
            assert sum(status == 200 for status, _ in answers) == RPM, [status for status, _ in answers]
            refused = [body for status, body in answers if status != 200]
            assert len(refused) == RPM and all(is_openai_error(b, "rate_limit_exceeded") for b in refused), refused
            assert sum(p.startswith("rpm ") for p in generated_by() if p) == RPM

            took["b"] = time.monotonic() - began
            async def make_keys() -> dict[str, tuple[int, str]]:
                """Two keys made with the CLI while both instances run, each served by B within 1 s:
                ``{"api"|"cli": (id, key)}``, by how phase c revokes it."""
                made = await asyncio.gather(*(cli(config("A"), "keys", "create", "--name", f"revoked {how}")
                                              for how in ("api", "cli")))
                keys = {how: (int(re.search(r"created key (\d+)", out)[1]), out.split()[-1])
                        for how, out in zip(("api", "cli"), made)}
                secrets.extend(key for _, key in keys.values())
                for how, (_, key) in keys.items():
                    took[f"key made by the CLI served by B after ({how})"] = await until_status(http, urls["B"], key,
                                                                                                 200)
                return keys

            # d. 50 video jobs accepted by A and rendering upstream, then A is SIGKILLed
            async def create(i: int) -> str:
                body = {"model": VIDEO_MODEL, "prompt": f"shared drill job {i}"}
                async with http.post(f"{urls['A']}/v1/videos", json=body, headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                    return (await resp.json())["id"]

            ids = list(await asyncio.gather(*(create(i) for i in range(JOBS))))
            deadline = time.monotonic() + 40
            while await resumable(http, urls["A"], auth, ids) < JOBS:
                assert time.monotonic() < deadline, "A did not submit every job in time"
                await asyncio.sleep(0.1)
            took["d submitted"] = time.monotonic() - began
            async with http.get(f"{urls['B']}/health") as resp:
                assert (await resp.json())["video_jobs"]["running"] == 0, "B took a live A's job"
            for video_id in ids:
                async with http.get(f"{urls['A']}/v1/videos/{video_id}", headers=auth) as resp:
                    assert (await resp.json())["status"] == "in_progress", "a job ended before the kill"
            servers["A"].kill()  # SIGKILL: no shutdown code runs, A's leases and Redis slot holders are left behind
            await servers["A"].wait()
            making_keys = asyncio.create_task(make_keys())  # phase c's two keys, while B finishes A's jobs
            await all_completed_and_served(urls["B"], auth, ids, timeout=45)
            took["d done on B"] = time.monotonic() - began
            servers["A"] = await spawn_cli("serve", "--no-demo", *config("A"), "--port", str(ports["A"]), log=log)
            await wait_ready(urls["A"], servers["A"])
            await all_completed_and_served(urls["A"], auth, ids, timeout=10)  # A's own media dir never held them: S3
            submits = video_submits(emulator)
            assert set(submits) == {f"shared drill job {i}" for i in range(JOBS)}, "a job was never submitted"
            assert not {p: n for p, n in submits.items() if n > 1}, "a job was submitted upstream twice"

            took["d served by A"] = time.monotonic() - began
            # c. changes through A's admin API and the CLI reach B within a second
            await admin.login()
            await admin.change_password()
            token = await admin.create_admin_token("drill")
            secrets.append(token)
            status, listed, text = await admin.api("GET", "/api/accounts", token=token)
            assert status == 200, text
            account_ids = {a["email"]: a["id"] for a in listed["data"]}
            keys = await making_keys
            status, _, text = await admin.api("DELETE", f"/api/keys/{keys['api'][0]}", token=token)
            assert status < 300, text
            took["key revoked through A refused by B after"] = await until_status(http, urls["B"], keys["api"][1], 401)
            await cli(config("A"), "keys", "revoke", str(keys["cli"][0]))
            took["key revoked by the CLI refused by B after"] = await until_status(http, urls["B"], keys["cli"][1], 401)
            slow = {what: t for what, t in took.items() if what.startswith("key ") and t >= WITHIN}
            assert not slow, f"a key change took 1 s or more to reach B: {slow}"

            # account 1, B's only image account, disabled through A: 1 s later B refuses images (none left) rather
            # than use it; account 2 given images through A: 1 s later B serves them with it
            status, _, text = await admin.api("POST", f"/api/accounts/{account_ids[emails[0]]}/disable", token=token)
            assert status == 200, text
            await asyncio.sleep(WITHIN)
            status, body = await image(1, "after disable")  # odd: through B
            assert status == 503 and is_openai_error(body, "no_account_available"), (status, body)
            assert "after disable" not in generated_by()
            status, _, text = await admin.api("PATCH", f"/api/accounts/{account_ids[emails[1]]}", token=token,
                                              json={"image_enabled": True})
            assert status == 200, text
            await asyncio.sleep(WITHIN)
            answers = [await image(1, f"after enable {i}") for i in range(3)]
            assert [status for status, _ in answers] == [200] * 3, answers
            assert {generated_by()[f"after enable {i}"] for i in range(3)} == {emails[1]}
            took["c"] = time.monotonic() - began
    finally:
        log_.info("seconds since the servers were started at the end of each phase, and each key change's delay "
                  "on B: %s", took)
        if making_keys is not None:
            making_keys.cancel()
        await admin.close()
        for server in servers.values():
            await stop(server)

    logged = log.read_text(encoding="utf-8", errors="replace")
    assert taken_over(logged, "B") == JOBS, "B's log does not say it took A's jobs over"
    for secret in secrets:
        assert secret not in logged, "a secret is in a server's log"
