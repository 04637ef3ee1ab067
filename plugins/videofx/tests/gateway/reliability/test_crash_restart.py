"""Drill: ``kill -9`` of ``flow2api serve`` with 100 Videos API jobs in flight on labs.google/fx (videofx), then a
restart on the same data (the drill itself: :mod:`flow2api.testing.crash`).

The emulator runs in the test (videos finish after 8 status polls, polled every 0.2 s) with two accounts.
Two moments for the kill:

* **while polling** — upstream has accepted all 100 and every task row holds its ``resume`` state: the
  restart must resume them all on their accounts and submit none twice (the emulator's log of video
  submits: exactly one each);
* **mid-submit** — upstream has accepted 40 of them, the rest are being submitted. Asserted: no job whose
  resume state was in the database at the kill is submitted again. KNOWN_GAP, counted and printed: a job
  upstream accepted whose answer had not been read, or whose ``Submitted.resume`` had not been stored, when
  the process died is submitted again after the restart (a second, paid generation): that protocol has no
  idempotency key nor a way to ask for a job by an id the client chose (docs/reliability.md). The flowweb
  family's drill (plugins/flowweb/tests/test_flowweb_crash_restart.py) promises more.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator
from videofx_drills import prompt_of

from flow2api.testing.crash import JOBS, CrashTarget, crash_drill

pytestmark = pytest.mark.reliability

SUBMIT = "batchAsyncGenerateVideo"


@pytest.fixture
async def videofx(aiohttp_server: Callable) -> CrashTarget:
    """Two accounts on the labs.google/fx emulator (videos finish after 8 polls)."""
    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=8,
                                             max_recorded_requests=100_000))
    base = str((await aiohttp_server(emulator.app())).make_url("")).rstrip("/")
    sts = [emulator.add_account(f"crash{i}@example.com", tier="PAYGATE_TIER_TWO", credits=1_000_000).st for i in range(2)]
    return CrashTarget(
        name="videofx", model="veo_3_1_t2v_fast_landscape",
        sections={
            "flow": {"labs_base_url": f"{base}/fx/api", "api_base_url": f"{base}/v1", "poll_interval": 0.2},
            "captcha": {"captcha_method": "yescaptcha", "yescaptcha_base_url": f"{base}/solver",
                        "yescaptcha_api_key": emulator.settings.solver_client_key, "solver_poll_interval": 0.01},
        },
        accounts=[("--st", st) for st in sts], secrets=sts,
        generated=lambda: [prompt_of(r.json) for r in emulator.requests
                           if r.operation.startswith(SUBMIT) and r.status == 200],
    )


async def test_kill_9_while_100_video_jobs_are_polling(tmp_path: Path, videofx: CrashTarget) -> None:
    outcome = await crash_drill(tmp_path, videofx, kill_after=JOBS)
    assert not outcome.twice, f"submitted more than once across the crash: {outcome.twice}"


async def test_kill_9_while_100_video_jobs_are_being_submitted(tmp_path: Path, videofx: CrashTarget) -> None:
    outcome = await crash_drill(tmp_path, videofx, kill_after=40)
    twice, recorded = outcome.twice, outcome.recorded
    print(f"KNOWN_GAP: {len(twice)} jobs accepted upstream but not yet recorded at the kill were submitted again "
          f"({len(recorded)} recorded)")
    # The invariant that holds: a job whose resume state reached the database is never submitted again.
    assert not set(twice) & recorded, f"recorded jobs submitted again: {sorted(set(twice) & recorded)[:5]}"
