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
  submitted. On ``labs.google/fx`` (videofx) asserted: no job whose resume
  state was in the database at the kill (read from the file after it) is
  submitted again. KNOWN_GAP, counted and printed: a job upstream accepted
  whose answer had not been read, or whose ``Submitted.resume`` had not been
  stored, when the process died is submitted again after the restart (a
  second, paid generation): that protocol has no idempotency key nor a way to
  ask for a job by an id the client chose (docs/reliability.md). On
  ``flow.google.com`` (flowweb) the submit's media id is known before it is
  sent (spec §3.3), stored as a ``Submitting`` checkpoint and looked up after
  the restart: asserted, **no prompt is generated twice**.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator
from videofx_drills import prompt_of
from videofx_gateway import REPO

if TYPE_CHECKING:
    from flow2api_flowweb.emulator import FlowWebEmulator

pytestmark = pytest.mark.reliability

JOBS = 100
API_KEY = "drill-crash-key-0123456789"
SUBMIT = "batchAsyncGenerateVideo"


@dataclass
class Family:
    """One provider family's side of the drill: its emulator, settings, accounts and upstream's record of work."""

    name: str
    model: str
    config: str  # TOML sections pointing the family at the emulator
    accounts: list[tuple[str, ...]]  # ``flow2api accounts add`` arguments, one tuple per account
    secrets: list[str]  # what must never reach the server's log
    generated: Callable[[], list[str]]  # the prompt of every video upstream accepted (and charged for)


def videofx(emulator: FlowEmulator, base: str) -> Family:
    """Two accounts on the labs.google/fx emulator."""
    sts = [emulator.add_account(f"crash{i}@example.com", tier="PAYGATE_TIER_TWO", credits=1_000_000).st for i in range(2)]
    return Family(
        name="videofx", model="veo_3_1_t2v_fast_landscape",
        config=(f'[flow]\nlabs_base_url = "{base}/fx/api"\napi_base_url = "{base}/v1"\npoll_interval = 0.2\n'
                f'[captcha]\ncaptcha_method = "yescaptcha"\nyescaptcha_base_url = "{base}/solver"\n'
                f'yescaptcha_api_key = "{emulator.settings.solver_client_key}"\nsolver_poll_interval = 0.01\n'),
        accounts=[("--st", st) for st in sts], secrets=sts,
        generated=lambda: [prompt_of(r.json) for r in emulator.requests
                           if r.operation.startswith(SUBMIT) and r.status == 200],
    )


def flowweb(emulator: FlowWebEmulator, base: str, tmp_path: Path) -> Family:
    """Two cookie accounts on the flow.google.com emulator (http executor)."""
    accounts, secrets = [], []
    for i in range(2):
        account = emulator.add_account(f"crash{i}@example.com", tier=2, credits=1_000_000)
        cookies = tmp_path / f"cookies-{i}.txt"
        cookies.write_text(account.cookies_txt(), encoding="utf-8")
        accounts.append(("--family", "flowweb", "--cookies", str(cookies)))
        secrets += [value for value in account.cookies.values() if len(value) >= 16]
    return Family(
        name="flowweb", model="veo_3_1_t2v_lite_landscape",
        config=(f'[flowweb]\nbase_url = "{base}"\npoll_interval = 0.2\n'
                f'[flowweb_captcha]\ncaptcha_method = "yescaptcha"\nyescaptcha_base_url = "{base}/solver"\n'
                f'yescaptcha_api_key = "{emulator.settings.solver_client_key}"\nsolver_poll_interval = 0.01\n'),
        accounts=accounts, secrets=secrets,
        generated=lambda: [m.prompt for m in emulator.world.media.values() if m.kind == "video"],
    )


@pytest.fixture(params=["videofx", "flowweb"])
async def family(request: pytest.FixtureRequest, aiohttp_server, tmp_path: Path) -> Family:  # noqa: ANN001
    """Each drill runs once per provider family, against that family's emulator."""
    if request.param == "videofx":
        emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=8,
                                                 max_recorded_requests=100_000))
        server = await aiohttp_server(emulator.app())
        return videofx(emulator, str(server.make_url("")).rstrip("/"))
    # the flowweb half needs that distribution too: skipped where only the core and videofx are installed
    flowweb_emulator = pytest.importorskip("flow2api_flowweb.emulator")
    web_emulator = flowweb_emulator.FlowWebEmulator(
        flowweb_emulator.EmulatorSettings(video_polls_to_finish=8, max_recorded=100_000))
    server = await aiohttp_server(web_emulator.app())
    return flowweb(web_emulator, str(server.make_url("")).rstrip("/"), tmp_path)


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


@dataclass
class Outcome:
    """What a drill saw: prompts upstream generated more than once, and at the kill (from the database file and
    upstream's record) the prompts with a stored ``Submitted`` state and those only checkpointed (``Submitting``)
    whose submit had reached upstream anyway."""

    twice: dict[str, int]
    recorded: set[str]
    checkpointed_and_arrived: set[str]


async def test_kill_9_while_100_video_jobs_are_polling(tmp_path: Path, family: Family) -> None:
    outcome = await crash_drill(tmp_path, family, kill_after=JOBS)
    assert not outcome.twice, f"submitted more than once across the crash: {outcome.twice}"


async def test_kill_9_while_100_video_jobs_are_being_submitted(tmp_path: Path, family: Family) -> None:
    outcome = await crash_drill(tmp_path, family, kill_after=40)
    twice, recorded = outcome.twice, outcome.recorded
    if family.name == "flowweb":  # the submit's output id is known before it is sent: looked up after the restart
        print(f"flowweb: {len(outcome.checkpointed_and_arrived)} submits had reached upstream without their answer "
              f"being stored ({len(recorded)} stored); generated twice: {len(twice)}")
        assert not twice, f"generated twice across the crash: {sorted(twice)[:5]} ({len(twice)} prompts)"
        return
    print(f"KNOWN_GAP: {len(twice)} jobs accepted upstream but not yet recorded at the kill were submitted again "
          f"({len(recorded)} recorded)")
    # The invariant that holds: a job whose resume state reached the database is never submitted again.
    assert not set(twice) & recorded, f"recorded jobs submitted again: {sorted(set(twice) & recorded)[:5]}"


async def crash_drill(tmp_path: Path, family: Family, *, kill_after: int) -> Outcome:
    """Create the jobs, SIGKILL once ``kill_after`` submits were accepted (and, for all of them, recorded), restart,
    check that every job completes and is served and that none was lost."""
    config = tmp_path / "flow2api.toml"
    config.write_text(
        f'[global]\napi_key = "{API_KEY}"\n'
        '[generation]\nvideo_workers = 100\nvideo_slot_wait_timeout = 60\n'
        f'{family.config}'
        '[catalog]\nwatch = false\n[logging]\nlevel = "INFO"\n',
        encoding="utf-8",
    )
    data, log = tmp_path / "data", tmp_path / "server.log"
    common = ("--config", str(config), "--data-dir", str(data))
    for account in family.accounts:
        add = await run("accounts", "add", *account, *common, log=log)
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
                body = {"model": family.model, "prompt": f"crash drill job {i}"}
                async with http.post(f"{url}/v1/videos", json=body, headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                    return (await resp.json())["id"]

            ids = await asyncio.gather(*(create(i) for i in range(JOBS)))
            deadline = time.monotonic() + 60
            while len(family.generated()) < kill_after:
                assert time.monotonic() < deadline, f"upstream did not accept {kill_after} submits in time"
                await asyncio.sleep(0.01)
            if kill_after == JOBS:  # every job is polling: wait until each row holds its resume state
                while await resumable(http, url, auth, ids) < JOBS:
                    assert time.monotonic() < deadline, "resume states not recorded in time"
                    await asyncio.sleep(0.05)
        server.kill()  # SIGKILL: no cleanup, no graceful shutdown
        await server.wait()
        with contextlib.closing(sqlite3.connect(data / "flow2api.db")) as db:
            rows = db.execute("SELECT prompt, resume FROM tasks WHERE resume IS NOT NULL").fetchall()
        stages = {prompt: json.loads(resume).get("stage") for prompt, resume in rows}
        recorded = {prompt for prompt, stage in stages.items() if stage != "submitting"}
        arrived = {prompt for prompt, stage in stages.items() if stage == "submitting"} & set(family.generated())

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

    submits = collections.Counter(family.generated())
    assert set(submits) == {f"crash drill job {i}" for i in range(JOBS)}, "a job was never submitted upstream"
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert "taken up again after start-up" in logged
    for secret in (*family.secrets, API_KEY):
        assert secret not in logged, "a secret is in the server's log"
    return Outcome({p: n for p, n in submits.items() if n > 1}, recorded, arrived)


async def resumable(http: aiohttp.ClientSession, url: str, auth: dict[str, str], ids: list[str]) -> int:
    """How many jobs the API shows ``in_progress`` past the submit (progress ≥ 5: the provider's
    "accepted" event came after ``Submitted``, whose resume state is written first)."""
    count = 0
    for video_id in ids:
        async with http.get(f"{url}/v1/videos/{video_id}", headers=auth) as resp:
            job = await resp.json()
        count += job["status"] == "completed" or job["progress"] >= 5
    return count
