"""One public model id, two families: a labs (VideoFX) account and a flow.google.com account, with failover."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flowweb_helpers import ALL_FACTORIES, CATALOG, PNG, FlowWeb, add_flowweb_account, chat, download, result_url

from tests.conftest import Gateway, Upstream, make_settings


async def mixed_gateway(tmp_path: Path, upstream: Upstream, flowweb: FlowWeb, start_gateway: Callable) -> tuple[Gateway, int, int]:
    settings = make_settings(tmp_path, upstream, catalog={"path": str(CATALOG)}, call_logic={"call_mode": "credits"},
                             **flowweb.sections())
    gateway = await start_gateway(settings, ALL_FACTORIES)
    labs = upstream.emulator.add_account("labs@example.com", tier="PAYGATE_TIER_ONE", credits=900)
    labs_id = (await gateway.pool.add("videofx", {"st": labs.st})).id
    web_id = await add_flowweb_account(gateway, flowweb.emulator.add_account("web@example.com", tier=1, credits=100))
    return gateway, labs_id, web_id


async def test_the_model_lists_both_routes_and_each_family_serves_it(tmp_path: Path, upstream: Upstream,
                                                                     flowweb: FlowWeb, start_gateway: Callable) -> None:
    gateway, labs_id, web_id = await mixed_gateway(tmp_path, upstream, flowweb, start_gateway)
    assert {r.family for r in gateway.pool.records()} == {"videofx", "flowweb"}
    await download(result_url(await chat(gateway, "mixed-image", "first")))
    assert len(upstream.emulator.calls("batchGenerateImages")) == 1  # the labs account has the most credits
    await gateway.pool.update(web_id, credits=5000)
    await download(result_url(await chat(gateway, "mixed-image", "second")))
    assert len(flowweb.emulator.calls("ogiZ0b")) == 1


async def test_a_failing_labs_account_fails_over_to_the_flowweb_account(tmp_path: Path, upstream: Upstream,
                                                                        flowweb: FlowWeb, start_gateway: Callable) -> None:
    gateway, labs_id, web_id = await mixed_gateway(tmp_path, upstream, flowweb, start_gateway)
    upstream.emulator.faults.add({"kind": "status", "status": 503, "operation": "batchGenerateImages"})
    body, _ = await download(result_url(await chat(gateway, "mixed-image", "a windmill")))
    assert body.startswith(PNG)
    assert [c.status for c in upstream.emulator.calls("batchGenerateImages")] == [503]
    assert [c.args[1][0][5] for c in flowweb.emulator.calls("ogiZ0b")] == ["NARWHAL"]
    labs = gateway.pool.records()[0]
    assert labs.last_error and labs.consecutive_errors == 0  # recorded, failed over, not counted towards a ban


async def test_a_failing_flowweb_account_fails_over_to_the_labs_account(tmp_path: Path, upstream: Upstream,
                                                                        flowweb: FlowWeb, start_gateway: Callable) -> None:
    gateway, labs_id, web_id = await mixed_gateway(tmp_path, upstream, flowweb, start_gateway)
    await gateway.pool.update(web_id, credits=5000)
    flowweb.emulator.faults.add({"kind": "status", "status": 429, "retry_after": 60, "operation": "ogiZ0b"})
    body, _ = await download(result_url(await chat(gateway, "mixed-image", "a lighthouse")))
    assert body.startswith(PNG)
    assert [c.status for c in flowweb.emulator.calls("ogiZ0b")] == [429]
    assert len(upstream.emulator.calls("batchGenerateImages")) == 1
    web = next(r for r in gateway.pool.records() if r.id == web_id)
    assert web.cooldown_until is not None  # the flowweb account rests, the labs one served
