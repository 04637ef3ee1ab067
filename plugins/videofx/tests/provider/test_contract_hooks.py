"""The optional plugin hooks as VideoFX defines them, run by the core against the real Flow emulator.

``check_due``/``check`` (``[flow] check_interval``) are driven by the pool's background maintenance;
``config`` exposes the ``[flow]``/``[captcha]`` sections to the admin settings editor; a resume state
stored in the shape earlier versions wrote still resumes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from videofx_helpers import FakeAccount, Upstream, fake_account, flow_sections, route_options, run_events

from flow2api.admin.settings_edit import plugin_models
from flow2api.errors import Flow2APIError
from flow2api.plugin import Call, FamilyBase, Job, Kind, MediaOutput, PluginContext, Submitted
from flow2api.pool.maintenance import due_accounts, maintain_once
from flow2api.testing import FakeFamily
from flow2api_videofx import VideoFXImageProvider, VideoFXVideoProvider
from flow2api_videofx.config import CaptchaConfig, FlowConfig
from flow2api_videofx.options import VideoOptions
from flow2api_videofx.video_state import ResumeState


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` every 20 ms until it holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_check_interval_rereads_credits_and_tier_in_the_background(start_gateway: Callable) -> None:
    gw = await start_gateway(flow={"check_interval": 0.3}, admin={"maintenance_interval": 0.05})
    account_id = await gw.add_account("carol@example.com", tier="PAYGATE_TIER_ONE", credits=100_000)
    emulator = gw.upstream.emulator
    sessions_before = len(emulator.calls("auth.session"))
    emulator.add_account("carol@example.com", tier="PAYGATE_TIER_TWO", credits=4242)  # same ST, new balance

    await wait_for(lambda: gw.record(account_id).credits == 4242)  # no request reached the gateway meanwhile
    record = gw.record(account_id)
    assert record.tier == "PAYGATE_TIER_TWO" and record.enabled and record.last_error in (None, "")
    # check re-read /credits with the stored AT: no ST→AT exchange was needed
    assert len(emulator.calls("auth.session")) == sessions_before
    assert time.time() - gw.pool.view(account_id).state["checked_at"] < 5


async def test_check_is_due_only_after_check_interval_and_never_when_zero(start_gateway: Callable) -> None:
    gw = await start_gateway(flow={"check_interval": 600})
    account_id = await gw.add_account("dave@example.com")
    family = gw.pool.families["videofx"]
    now = time.time()
    assert due_accounts(gw.pool, now) == ([], [])
    assert due_accounts(gw.pool, now + 601) == ([], [account_id])
    gw.upstream.emulator.add_account("dave@example.com", credits=7)
    assert await maintain_once(gw.pool, now=now + 601) == 1
    assert gw.record(account_id).credits == 7
    assert not family.check_due(gw.pool.view(account_id), time.time() + 1)  # checked_at moved on to the check
    off = await start_gateway(flow={"check_interval": 0})
    await off.add_account("erin@example.com")
    assert due_accounts(off.pool, now + 10**6)[1] == []


async def test_a_check_whose_credential_is_dead_disables_the_account(start_gateway: Callable) -> None:
    gw = await start_gateway(flow={"check_interval": 600})
    account_id = await gw.add_account("frank@example.com")
    del gw.upstream.emulator.world.accounts["frank@example.com"]  # upstream no longer knows the AT nor the ST
    assert await maintain_once(gw.pool, now=time.time() + 601) == 0
    record = gw.record(account_id)
    assert not record.enabled and record.ban_reason == "session expired"
    assert due_accounts(gw.pool, time.time() + 10**6) == ([], [])  # disabled accounts are left alone


async def test_family_base_defaults_are_never_due_and_do_nothing(upstream: Upstream, http) -> None:  # noqa: ANN001
    account: FakeAccount = await fake_account(upstream, http)
    family = FakeFamily()
    assert isinstance(family, FamilyBase)
    assert family.check_due(account.view, time.time() + 10**9) is False
    await family.check(account, http)
    assert account.saves == [] and family.describe_state(account.view) == {} and family.web_app() is None


def test_provider_member_config() -> None:
    """``config`` holds the validated ``[flow]``/``[captcha]`` models the admin settings editor offers."""
    context = PluginContext(sections={}, data_dir=Path("."))
    providers = {"videofx-image": VideoFXImageProvider(context), "videofx-video": VideoFXVideoProvider(context)}
    assert providers["videofx-image"].config is providers["videofx-video"].config  # one family, one config
    found = plugin_models(providers)
    assert isinstance(found["flow"], FlowConfig) and isinstance(found["captcha"], CaptchaConfig)


async def test_a_resume_state_in_the_stored_json_shape_still_resumes(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    """A ``resume`` column as rows before this version may hold it (no ``v``, ``None`` fields left out) resumes."""
    video = VideoFXVideoProvider(PluginContext(sections=flow_sections(upstream), data_dir=tmp_path))
    account = await fake_account(upstream, http)
    model = "veo_3_1_t2v_fast_landscape"
    job = Job(model=model, kind=Kind.VIDEO, prompt="a lighthouse", options=VideoOptions.model_validate(route_options(model)))
    first = await run_events(video.generate(Call(job, account, http)))
    submitted = next(e for e in first if isinstance(e, Submitted))
    stored = {k: v for k, v in submitted.resume.items() if k != "v" and v is not None}
    assert ResumeState.from_json(stored).to_json() == submitted.resume  # same JSON once read back
    resumed = await run_events(video.resume(Call(job, account, http), stored))
    assert [e.kind for e in resumed if isinstance(e, MediaOutput)] == [Kind.VIDEO]
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoText")) == 1  # followed, not submitted again


def test_a_state_of_another_provider_is_refused() -> None:
    with pytest.raises(Flow2APIError, match="cannot be resumed"):
        ResumeState.from_json({"project": "p", "media_id": "m", "stage": "generate"})
