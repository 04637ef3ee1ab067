"""A project flow.google.com no longer knows is replaced, once per request (issue 18 finding 8; flowkit ``ProjectPool``).

The emulator forgets projects as a restart of the demo does (``world.forget_projects``): RPCs
naming one answer NOT_FOUND (``[5]``) and its page redirects to ``/404?reason=project``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from flowweb_helpers import FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, chat, flowweb_settings, png_data_uri

from flow2api.testing import Gateway


async def pool_of_one(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> tuple[Gateway, int]:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, project_pool_size=1), FLOWWEB_FACTORIES)
    account_id = await add_flowweb_account(gateway, flowweb.emulator.add_account("heal@example.com", tier=2,
                                                                                 credits=10_000))
    return gateway, account_id


@pytest.mark.parametrize(("model", "images"), [("fw-image", 0), ("fw-image", 1), ("fw-t2v", 0), ("fw-i2v", 1)])
async def test_a_generation_succeeds_after_the_accounts_projects_vanished(
        tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable, model: str, images: int) -> None:
    gateway, account_id = await pool_of_one(tmp_path, flowweb, start_gateway)
    inputs = [png_data_uri()] * images
    await chat(gateway, model, "a kite", inputs)
    old = gateway.pool.view(account_id).projects
    assert flowweb.emulator.world.forget_projects() == 1  # as a restart of the demo's emulator does

    content = await chat(gateway, model, "a kite", inputs)
    assert "http" in content
    projects = gateway.pool.view(account_id).projects
    assert len(projects) == 1 and projects != old and projects[0] in flowweb.emulator.world.projects
    assert await gateway.pool.repo.projects(account_id) == list(projects)
    assert len(flowweb.emulator.calls("jHPbke")) == 2


async def test_a_second_missing_project_is_not_retried(tmp_path: Path, flowweb: FlowWeb,
                                                       start_gateway: Callable) -> None:
    gateway, _ = await pool_of_one(tmp_path, flowweb, start_gateway)
    flowweb.emulator.faults.add({"kind": "project_gone", "operation": "ogiZ0b"})  # every project vanishes
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(gateway, "fw-image", "a kite")
    assert raised.value.status_code == 502
    assert len(flowweb.emulator.calls("jHPbke")) == 2  # the first project and one replacement
    assert len(flowweb.emulator.calls("ogiZ0b")) == 2


async def test_a_not_found_whose_project_page_loads_keeps_the_project(tmp_path: Path, flowweb: FlowWeb,
                                                                      start_gateway: Callable) -> None:
    gateway, account_id = await pool_of_one(tmp_path, flowweb, start_gateway)
    await chat(gateway, "fw-image", "a kite")
    projects = gateway.pool.view(account_id).projects
    flowweb.emulator.faults.add({"kind": "rpc_error", "code": 5, "operation": "ogiZ0b", "count": 1})
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(gateway, "fw-image", "a kite")
    assert raised.value.status_code == 502
    assert gateway.pool.view(account_id).projects == projects and len(flowweb.emulator.calls("jHPbke")) == 1
