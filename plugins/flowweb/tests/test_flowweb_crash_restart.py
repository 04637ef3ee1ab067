"""Drill: ``kill -9`` of ``flow2api serve`` with 100 Videos API jobs in flight on flow.google.com (flowweb), then
a restart on the same data (the drill itself: :mod:`flow2api.testing.crash`).

The emulator runs in the test (videos finish after 8 status polls, polled every 0.2 s) with two cookie
accounts on the http executor. Two moments for the kill: **while polling** (upstream accepted all 100, every
row holds its resume state: none is submitted twice) and **mid-submit** (40 accepted, the rest being
submitted). Unlike labs.google/fx, the submit's media id is known before it is sent (spec §3.3), stored as
a ``Submitting`` checkpoint and looked up after the restart: asserted, **no prompt is generated twice**.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flow2api.testing.crash import JOBS, CrashTarget, crash_drill
from flow2api_flowweb.emulator import EmulatorSettings, FlowWebEmulator

pytestmark = pytest.mark.reliability


@pytest.fixture
async def flowweb_target(aiohttp_server: Callable, tmp_path: Path) -> CrashTarget:
    """Two cookie accounts (files in ``tmp_path``) on the flow.google.com emulator (videos finish after 8 polls)."""
    emulator = FlowWebEmulator(EmulatorSettings(video_polls_to_finish=8, max_recorded=100_000))
    base = str((await aiohttp_server(emulator.app())).make_url("")).rstrip("/")
    accounts, secrets = [], []
    for i in range(2):
        account = emulator.add_account(f"crash{i}@example.com", tier=2, credits=1_000_000)
        cookies = tmp_path / f"cookies-{i}.txt"
        cookies.write_text(account.cookies_txt(), encoding="utf-8")
        accounts.append(("--family", "flowweb", "--cookies", str(cookies)))
        secrets += [value for value in account.cookies.values() if len(value) >= 16]
    sections = emulator.sections(base)
    sections["flowweb"]["poll_interval"] = 0.2
    return CrashTarget(
        name="flowweb", model="veo_3_1_t2v_lite_landscape", sections=sections, accounts=accounts, secrets=secrets,
        generated=lambda: [m.prompt for m in emulator.world.media.values() if m.kind == "video"],
    )


async def test_kill_9_while_100_video_jobs_are_polling(tmp_path: Path, flowweb_target: CrashTarget) -> None:
    outcome = await crash_drill(tmp_path, flowweb_target, kill_after=JOBS)
    assert not outcome.twice, f"submitted more than once across the crash: {outcome.twice}"


async def test_kill_9_while_100_video_jobs_are_being_submitted(tmp_path: Path, flowweb_target: CrashTarget) -> None:
    outcome = await crash_drill(tmp_path, flowweb_target, kill_after=40)
    print(f"flowweb: {len(outcome.checkpointed_and_arrived)} submits had reached upstream without their answer "
          f"being stored ({len(outcome.recorded)} stored); generated twice: {len(outcome.twice)}")
    assert not outcome.twice, f"generated twice across the crash: {sorted(outcome.twice)[:5]} ({len(outcome.twice)} prompts)"
