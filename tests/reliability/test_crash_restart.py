"""Drill: ``kill -9`` of ``flow2api serve`` with 100 Videos API jobs in flight, then a restart on the same data.

The emulator runs in the test (videos finish after 8 status polls, polled
every 0.2 s); ``flow2api serve`` runs as a child process with two accounts
and room for all 100 jobs at once (``[generation] video_workers = 100``).
100 ``POST /v1/videos`` with distinct prompts, then SIGKILL — no shutdown code
runs — and a new server on the same data directory. Required, within bounded
waits: every job ends ``completed`` and its MP4 is served by
``GET /v1/videos/{id}/content``; upstream received a submit for every prompt
(none lost). The server's log is checked for the accounts' STs and the API key.

Two moments for the kill:

* **while polling** — upstream has accepted all 100 and every task row holds
  its ``resume`` state: the restart must resume them all on their accounts and
  submit none twice (the emulator's log of video submits: exactly one each);
* **mid-submit** — upstream has accepted 40 of them, the rest are being
  submitted. Asserted: no job whose resume state was in the database at the
  kill (read from the file after it) is submitted again. KNOWN_GAP, counted
  and printed: a job upstream accepted whose answer had not been read, or
  whose ``Submitted.resume`` had not been stored, when the process died is
  submitted again after the restart (a second, paid generation): Flow has no
  idempotency key nor a way to list a project's jobs (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator
from tests.conftest import REPO, Upstream
from tests.reliability.conftest import prompt_of

pytestmark = pytest.mark.reliability

JOBS = 100
MODEL = "veo_3_1_t2v_fast_landscape"
API_KEY = "drill-crash-key-0123456789"
SUBMIT = "batchAsyncGenerateVideo"


@pytest.fixture
async def video_upstream(aiohttp_server) -> Upstream:  # noqa: ANN001
    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=8,
                                             max_recorded_requests=100_000))
    return Upstream(emulator, await aiohttp_server(emulator.app()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run(*args: str, log: Path) -> asyncio.subprocess.Process:
    with open(log, "ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flow2api", *args, cwd=REPO, stdout=sink, stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


async def wait_ready(url: str, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.returncode is None, f"the server exited with {proc.returncode}"
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not become ready")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def accepted(emulator: FlowEmulator) -> int:
    return sum(r.status == 200 for r in emulator.requests if r.operation.startswith(SUBMIT))


async def test_kill_9_while_100_video_jobs_are_polling(tmp_path: Path, video_upstream: Upstream) -> None:
    twice, _ = await crash_drill(tmp_path, video_upstream, kill_after=JOBS)
    assert not twice, f"submitted more than once across the crash: {twice}"


async def test_kill_9_while_100_video_jobs_are_being_submitted(tmp_path: Path, video_upstream: Upstream) -> None:
    twice, recorded = await crash_drill(tmp_path, video_upstream, kill_after=40)
    print(f"KNOWN_GAP: {len(twice)} jobs accepted upstream but not yet recorded at the kill were submitted again "
          f"({len(recorded)} recorded)")
    # The invariant that holds: a job whose resume state reached the database is never submitted again.
    assert not set(twice) & recorded, f"recorded jobs submitted again: {sorted(set(twice) & recorded)[:5]}"


async def crash_drill(
    tmp_path: Path, video_upstream: Upstream, *, kill_after: int,
) -> tuple[dict[str, int], set[str]]:
    """Create the jobs, SIGKILL once ``kill_after`` submits were accepted (and, for all of them, recorded), restart,
    check that every job completes and is served; returns the prompts upstream generated more than once and the
    prompts whose resume state was in the database at the kill."""
    emulator = video_upstream.emulator
    base = video_upstream.base
    config = tmp_path / "flow2api.toml"
    config.write_text(
        f'[global]\napi_key = "{API_KEY}"\n'
        '[generation]\nvideo_workers = 100\nvideo_slot_wait_timeout = 60\n'
        f'[flow]\nlabs_base_url = "{base}/fx/api"\napi_base_url = "{base}/v1"\npoll_interval = 0.2\n'
        f'[captcha]\ncaptcha_method = "yescaptcha"\nyescaptcha_base_url = "{base}/solver"\n'
        f'yescaptcha_api_key = "{emulator.settings.solver_client_key}"\nsolver_poll_interval = 0.01\n'
        '[catalog]\nwatch = false\n[logging]\nlevel = "INFO"\n',
        encoding="utf-8",
    )
    data, log = tmp_path / "data", tmp_path / "server.log"
    common = ("--config", str(config), "--data-dir", str(data))
    sts = [emulator.add_account(f"crash{i}@example.com", tier="PAYGATE_TIER_TWO", credits=1_000_000).st for i in range(2)]
    for st in sts:
        add = await run("accounts", "add", "--st", st, *common, log=log)
        assert await asyncio.wait_for(add.wait(), 60) == 0, log.read_text()[-2000:]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = ("serve", "--no-demo", *common, "--port", str(port))
    auth = {"Authorization": f"Bearer {API_KEY}"}
    server = await run(*serve, log=log)
    try:
        await wait_ready(url, server)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

            async def create(i: int) -> str:
                body = {"model": MODEL, "prompt": f"crash drill job {i}"}
                async with http.post(f"{url}/v1/videos", json=body, headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                    return (await resp.json())["id"]

            ids = await asyncio.gather(*(create(i) for i in range(JOBS)))
            deadline = time.monotonic() + 60
            while accepted(emulator) < kill_after:
                assert time.monotonic() < deadline, f"upstream did not accept {kill_after} submits in time"
                await asyncio.sleep(0.01)
            if kill_after == JOBS:  # every job is polling: wait until each row holds its resume state
                while await resumable(http, url, auth, ids) < JOBS:
                    assert time.monotonic() < deadline, "resume states not recorded in time"
                    await asyncio.sleep(0.05)
        server.kill()  # SIGKILL: no cleanup, no graceful shutdown
        await server.wait()
        with contextlib.closing(sqlite3.connect(data / "flow2api.db")) as db:
            recorded = {row[0] for row in db.execute("SELECT prompt FROM tasks WHERE resume IS NOT NULL")}

        server = await run(*serve, log=log)
        await wait_ready(url, server)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            pending = set(ids)
            deadline = time.monotonic() + 180
            while pending:
                assert time.monotonic() < deadline, f"{len(pending)} jobs unfinished after the restart"
                for video_id in list(pending):
                    async with http.get(f"{url}/v1/videos/{video_id}", headers=auth) as resp:
                        job = await resp.json()
                    assert job["status"] != "failed", f"{video_id} failed: {job['error']}"
                    if job["status"] == "completed":
                        pending.discard(video_id)
                await asyncio.sleep(0.2)
            for video_id in ids:
                async with http.get(f"{url}/v1/videos/{video_id}/content", headers=auth) as resp:
                    assert resp.status == 200 and resp.content_type == "video/mp4"
                    assert (await resp.read())[4:8] == b"ftyp"
    finally:
        await stop(server)

    submits = collections.Counter(prompt_of(r.json) for r in emulator.requests
                                  if r.operation.startswith(SUBMIT) and r.status == 200)
    assert set(submits) == {f"crash drill job {i}" for i in range(JOBS)}, "a job was never submitted upstream"
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert "taken up again after start-up" in logged
    for secret in (*sts, API_KEY):
        assert secret not in logged, "a secret is in the server's log"
    return {p: n for p, n in submits.items() if n > 1}, recorded


async def resumable(http: aiohttp.ClientSession, url: str, auth: dict[str, str], ids: list[str]) -> int:
    """How many jobs the API shows ``in_progress`` past the submit (progress ≥ 5: the provider's
    "accepted" event came after ``Submitted``, whose resume state is written first)."""
    count = 0
    for video_id in ids:
        async with http.get(f"{url}/v1/videos/{video_id}", headers=auth) as resp:
            job = await resp.json()
        count += job["status"] == "completed" or job["progress"] >= 5
    return count
