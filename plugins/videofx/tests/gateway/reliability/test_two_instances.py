"""Drill (issue 17 item 4): two ``flow2api serve`` processes on one PostgreSQL against the labs.google/fx
emulator; ``kill -9`` of instance A with 15 Videos API jobs in flight → every job completes through instance B
after A's leases expire, and upstream received exactly one submit per job (the emulator's request log).

A and B are separate machines as far as flow2api knows: each its own data directory (so its own media
cache), one database, one ``[storage] secret_key`` (the accounts' secrets are sealed with it). Leases of 2 s,
claims every 0.5 s, so the drill stays well under a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator
from videofx_drills import instance_config, taken_over, video_submits

from flow2api.testing.crash import API_KEY, all_completed_and_served, resumable
from flow2api.testing.processes import free_port, spawn_cli, stop, wait_ready

pytestmark = pytest.mark.reliability

JOBS = 15
MODEL = "veo_3_1_t2v_fast_landscape"


async def test_kill_9_of_one_instance_hands_its_video_jobs_to_the_other(
        tmp_path: Path, aiohttp_server: Callable, postgres_url: str) -> None:
    # 30 status polls at 0.2 s: about 6 s per video, so every job is still rendering when A dies
    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=30,
                                             max_recorded_requests=100_000))
    base = str((await aiohttp_server(emulator.app())).make_url("")).rstrip("/")
    sts = [emulator.add_account(f"ha{i}@example.com", tier="PAYGATE_TIER_TWO", credits=1_000_000).st for i in range(2)]

    secret_key = Fernet.generate_key().decode()
    log = tmp_path / "servers.log"

    def config(name: str) -> tuple[str, ...]:
        return instance_config(tmp_path, name, emulator, base,
                               storage={"url": postgres_url, "secret_key": secret_key},
                               generation={"video_workers": JOBS, "video_slot_wait_timeout": 60})

    for st in sts:
        add = await spawn_cli("accounts", "add", "--st", st, *config("A"), log=log)
        assert await asyncio.wait_for(add.wait(), 60) == 0, log.read_text()[-2000:]
    ports = {name: free_port() for name in ("A", "B")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    servers = {name: await spawn_cli("serve", "--no-demo", *config(name), "--port", str(ports[name]), log=log)
               for name in ("A", "B")}
    auth = {"Authorization": f"Bearer {API_KEY}"}
    try:
        await asyncio.gather(*(wait_ready(urls[name], servers[name]) for name in servers))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

            async def create(i: int) -> str:
                body = {"model": MODEL, "prompt": f"two instances job {i}"}
                async with http.post(f"{urls['A']}/v1/videos", json=body, headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                    return (await resp.json())["id"]

            ids = list(await asyncio.gather(*(create(i) for i in range(JOBS))))
            deadline = time.monotonic() + 30
            while await resumable(http, urls["A"], auth, ids) < JOBS:  # every job accepted upstream, on A
                assert time.monotonic() < deadline, "A did not submit every job in time"
                await asyncio.sleep(0.05)
            async with http.get(f"{urls['B']}/health") as resp:
                health = await resp.json()
            assert health["instance"] == "B" and health["video_jobs"]["running"] == 0, "B took a live A's job"
        servers["A"].kill()  # SIGKILL: no shutdown code runs, A's leases are left to expire
        await servers["A"].wait()
        killed = time.monotonic()
        await all_completed_and_served(urls["B"], auth, ids, timeout=40)
        assert time.monotonic() - killed < 40
    finally:
        for server in servers.values():
            await stop(server)

    submits = video_submits(emulator)
    assert set(submits) == {f"two instances job {i}" for i in range(JOBS)}, "a job was never submitted"
    assert not {p: n for p, n in submits.items() if n > 1}, "a job was submitted upstream twice"
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert taken_over(logged, "B") == JOBS, "B's log does not say it took A's jobs over"
    for secret in (*sts, API_KEY, secret_key):
        assert secret not in logged, "a secret is in a server's log"
