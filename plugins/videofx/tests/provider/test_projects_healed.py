"""A project upstream no longer knows is replaced, once per request (issue 18 finding 8; flowkit ``ProjectPool``).

The emulator forgets projects as a restart of the demo does (``world.forget_projects``); the
account's stored projects then answer 404 NOT_FOUND "Requested entity was not found: project …".
"""

from __future__ import annotations

import aiohttp
import openai
import pytest
from videofx_helpers import Gateway, data_uri, png, user

IMAGE_MODEL = "gemini-3.1-flash-image-landscape"
VIDEO_MODEL = "veo_3_1_t2v_fast_landscape"
I2V_MODEL = "veo_3_1_i2v_s_fast_fl"

async def chat(gw: Gateway, model: str, *images: str) -> str:
    reply = await gw.sdk().chat.completions.create(model=model, messages=user("a kite", *images))
    return reply.choices[0].message.content or ""

@pytest.mark.parametrize("model,images", [(IMAGE_MODEL, ()), (VIDEO_MODEL, ()), (I2V_MODEL, (png(),))])
async def test_a_generation_succeeds_after_the_accounts_projects_vanished(start_gateway, model: str,  # noqa: ANN001
                                                                          images: tuple[bytes, ...]) -> None:
    gw = await start_gateway(flow={"project_pool_size": 1})
    account_id = await gw.add_account("heal@example.com")
    emulator = gw.upstream.emulator
    await chat(gw, model, *map(data_uri, images))
    old = list(gw.pool.view(account_id).projects)
    assert len(old) == 1
    assert emulator.world.forget_projects() == 1  # as a restart of the demo's emulator does

    content = await chat(gw, model, *map(data_uri, images))
    assert "](" in content or "<video" in content
    projects = list(gw.pool.view(account_id).projects)
    assert old[0] not in projects and len(projects) == 1 and projects[0] in emulator.world.projects
    assert await gw.pool.repo.projects(account_id) == projects  # the stale id is gone from storage too
    assert len(emulator.calls("project.createProject")) == 2

async def test_every_stale_project_of_a_full_pool_is_replaced_as_it_is_met(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 2})
    account_id = await gw.add_account("full@example.com")
    for _ in range(2):
        await chat(gw, IMAGE_MODEL)
    emulator = gw.upstream.emulator
    async with aiohttp.ClientSession() as http:  # the control route, as an out-of-process drill would use it
        async with http.delete(f"{gw.upstream.base}/_emulator/projects", params={"email": "full@example.com"}) as resp:
            assert (resp.status, await resp.json()) == (200, {"forgotten": 2})
    for _ in range(4):
        await chat(gw, IMAGE_MODEL)
    projects = gw.pool.view(account_id).projects
    assert len(projects) == 2 and all(p in emulator.world.projects for p in projects)
    assert len(emulator.calls("project.createProject")) == 4

async def test_a_second_not_found_is_not_retried(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 1})
    await gw.add_account("twice@example.com")
    emulator = gw.upstream.emulator
    emulator.faults.add({"kind": "status", "status": 404, "operation": "batchGenerateImages",
                         "message": "Requested entity was not found: project"})
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(gw, IMAGE_MODEL)
    assert raised.value.status_code == 502
    assert len(emulator.calls("project.createProject")) == 2  # the first, and one replacement
    assert len(emulator.calls("batchGenerateImages")) == 2

async def test_a_media_not_found_keeps_the_project(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 1})
    account_id = await gw.add_account("media@example.com")
    emulator = gw.upstream.emulator
    await chat(gw, IMAGE_MODEL)
    project = gw.pool.view(account_id).projects
    emulator.faults.add({"kind": "status", "status": 404, "operation": "batchGenerateImages", "count": 1,
                         "message": "Requested entity was not found: media abc"})
    with pytest.raises(openai.APIStatusError):
        await chat(gw, IMAGE_MODEL)
    assert gw.pool.view(account_id).projects == project
    assert len(emulator.calls("project.createProject")) == 1
