"""Account hooks of the ``videofx`` family: ST→AT refresh before expiry, credits/tier re-read, projects (spec §1.4, §2.2, §5.8)."""

from __future__ import annotations

import asyncio
import time

import pytest
from flow2api_flowkit.captcha_chain import BUILTIN_SOURCES
from flow2api_videofx.config import VideoFXConfig, load_config
from flow2api_videofx.family import VideoFXFamily
from videofx_helpers import Gateway, Upstream, data_uri, fake_account, png, user

from flow2api.discovery import PROVIDERS
from flow2api.errors import CredentialRejectedError
from flow2api.plugin import AccountUpdate, AccountView

MODEL = "veo_3_1_t2v_fast_landscape"
IMAGE_MODEL = "gemini-3.1-flash-image-landscape"


def family(**flow: object) -> VideoFXFamily:
    config: VideoFXConfig = load_config({"flow": flow}, sources=BUILTIN_SOURCES)
    return VideoFXFamily(config)


def view(**state: object) -> AccountView:
    return AccountView(id=1, family="videofx", email="a@b.c", secrets={"st": "s", "at": "a"}, state=state)


def test_refresh_is_due_within_the_margin_or_without_an_expiry() -> None:
    fam = family(at_refresh_margin=3600)
    now = 1_000_000.0
    assert not fam.refresh_due(view(at_expires=now + 3700), now)
    assert fam.refresh_due(view(at_expires=now + 3500), now)
    assert fam.refresh_due(view(), now)
    assert fam.refresh_due(AccountView(id=1, family="videofx", email="x", secrets={"st": "s"}, state={"at_expires": now + 9e9}), now)


def test_credits_check_is_due_after_the_interval() -> None:
    fam = family(check_interval=300)
    assert fam.check_due(view(checked_at=1000.0), 1301.0)
    assert not fam.check_due(view(checked_at=1000.0), 1200.0)
    assert fam.check_due(view(), 0.0)
    assert not family(check_interval=0).check_due(view(), 1e9)


async def chat(gw: Gateway, model: str = MODEL, *images: str) -> None:
    await gw.sdk().chat.completions.create(model=model, messages=user("a kite", *images))


async def test_access_token_is_refreshed_before_it_expires_and_tier_reread(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    await chat(gateway)
    assert len(emulator.calls("auth.session")) == 1  # only the one of `accounts add`: not due yet
    # The AT now expires within the refresh margin (as if ~23 h had passed) and the plan was upgraded.
    await gateway.pool.apply_update(1, AccountUpdate(state={"at_expires": time.time() + 60}))
    emulator.add_account("alice@example.com", tier="PAYGATE_TIER_TWO", credits=777)
    await chat(gateway)
    assert len(emulator.calls("auth.session")) == 2
    new_at = next(t.value for t in reversed(list(emulator.world.access_tokens.values())))
    submit = emulator.calls("batchAsyncGenerateVideoText")[-1]
    assert submit.headers["authorization"] == f"Bearer {new_at}"
    record = gateway.record(1)
    assert record.tier == "PAYGATE_TIER_TWO" and record.state["at_expires"] > time.time() + 3600
    assert submit.json["clientContext"]["userPaygateTier"] == "PAYGATE_TIER_TWO"
    assert submit.json["requests"][0]["videoModelKey"] == "veo_3_1_t2v_fast_ultra"  # tier-two switching follows


async def test_check_rereads_credits_and_refreshes_a_refused_token(upstream: Upstream, http) -> None:  # noqa: ANN001
    account = await fake_account(upstream, http, credits=50)
    fam = family(labs_base_url=f"{upstream.base}/fx/api", api_base_url=f"{upstream.base}/v1")
    upstream.emulator.add_account(account.view.email, tier="PAYGATE_TIER_TWO", credits=40)
    await fam.check(account, http)
    assert (account.view.credits, account.view.tier) == (40, "PAYGATE_TIER_TWO")
    assert isinstance(account.view.state["checked_at"], float)
    upstream.emulator.world.expire_access_tokens(account.view.email, time.time())
    old_at = account.view.secrets["at"]
    await fam.check(account, http)
    assert account.view.secrets["at"] != old_at
    upstream.emulator.accounts[account.view.email].st = "revoked"
    upstream.emulator.world.expire_access_tokens(account.view.email, time.time())
    with pytest.raises(CredentialRejectedError):
        await fam.check(account, http)


async def test_projects_are_created_up_to_the_pool_size_then_rotated(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 2})
    account_id = await gw.add_account("rotate@example.com")
    for _ in range(4):
        await chat(gw)
    emulator = gw.upstream.emulator
    created = emulator.calls("project.createProject")
    assert [c.json["json"] for c in created] == [
        {"projectTitle": "flow2api P1", "toolName": "PINHOLE"}, {"projectTitle": "flow2api P2", "toolName": "PINHOLE"},
    ]
    projects = list(gw.pool.view(account_id).projects)
    assert len(projects) == 2
    used = [c.json["clientContext"]["projectId"] for c in emulator.calls("batchAsyncGenerateVideoText")]
    assert used == [projects[0], projects[1], projects[0], projects[1]]


async def test_concurrent_first_requests_do_not_overfill_the_project_pool(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 2})
    await gw.add_account("burst@example.com")
    await asyncio.gather(*(chat(gw) for _ in range(6)))
    assert len(gw.upstream.emulator.calls("project.createProject")) == 2


async def test_image_and_video_requests_share_the_family_and_its_project_pool(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 1})
    await gw.add_account("both@example.com")
    providers = gw.app[PROVIDERS]
    family = providers["videofx-image"].family
    assert providers["videofx-video"].family is family and providers["videofx-video"].tokens is family.tokens
    await asyncio.gather(chat(gw, IMAGE_MODEL), chat(gw), chat(gw, IMAGE_MODEL), chat(gw))
    assert len(gw.upstream.emulator.calls("project.createProject")) == 1


async def test_uploads_go_to_the_project_of_the_request(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 2})
    await gw.add_account("frames@example.com")
    for _ in range(2):
        await chat(gw, "veo_3_1_i2v_s_fast_fl", data_uri(png()))
    emulator = gw.upstream.emulator
    uploads = [c.json["clientContext"]["projectId"] for c in emulator.calls("uploadImage")]
    submits = [c.json["clientContext"]["projectId"] for c in emulator.calls("batchAsyncGenerateVideoStartImage")]
    assert uploads == submits and len(set(submits)) == 2
