"""One public model id, two families: an account of another family and a flow.google.com account, with failover.

The other family is the core's scripted fake (:mod:`flow2api.testing`), so the flowweb tests need no other
provider plugin; what is checked is the pool's choice among families and the failover between them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flowweb_helpers import CATALOG, FLOWWEB_FACTORIES, PNG, FlowWeb, add_flowweb_account, chat, download, result_url

from flow2api.errors import UpstreamUnavailableError
from flow2api.plugin import Kind
from flow2api.testing import FakeProvider, Gateway, Script, add_account, image_plan, make_settings


async def mixed_gateway(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable,
                        script: Script) -> tuple[Gateway, int, int]:
    """A gateway serving ``mixed-image`` from a fake account (900 credits) and a flowweb one (100 credits)."""
    settings = make_settings(tmp_path, catalog={"path": str(CATALOG)}, call_logic={"call_mode": "credits"},
                             **flowweb.sections())
    factories = {**FLOWWEB_FACTORIES, "fake-image": lambda ctx: FakeProvider("fake-image", Kind.IMAGE, script=script)}
    gateway = await start_gateway(settings, factories)
    other_id = (await add_account(gateway, "fake", {"token": "other"})).id
    await gateway.pool.update(other_id, credits=900)
    web_id = await add_flowweb_account(gateway, flowweb.emulator.add_account("web@example.com", tier=1, credits=100))
    return gateway, other_id, web_id


async def test_the_model_lists_both_routes_and_each_family_serves_it(tmp_path: Path, flowweb: FlowWeb,
                                                                     start_gateway: Callable) -> None:
    script = Script(default=image_plan())
    gateway, other_id, web_id = await mixed_gateway(tmp_path, flowweb, start_gateway, script)
    assert {r.family for r in gateway.pool.records()} == {"fake", "flowweb"}
    await download(result_url(await chat(gateway, "mixed-image", "first")))
    assert len(script.calls) == 1  # the other account has the most credits
    await gateway.pool.update(web_id, credits=5000)
    await download(result_url(await chat(gateway, "mixed-image", "second")))
    assert len(flowweb.emulator.calls("ogiZ0b")) == 1


async def test_a_failing_account_of_the_other_family_fails_over_to_the_flowweb_account(
        tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> None:
    script = Script(default=[UpstreamUnavailableError("upstream answered 503")])
    gateway, other_id, web_id = await mixed_gateway(tmp_path, flowweb, start_gateway, script)
    body, _ = await download(result_url(await chat(gateway, "mixed-image", "a windmill")))
    assert body.startswith(PNG)
    assert len(script.calls) == 1
    assert [c.args[1][0][5] for c in flowweb.emulator.calls("ogiZ0b")] == ["NARWHAL"]
    other = next(r for r in gateway.pool.records() if r.id == other_id)
    assert other.last_error and other.consecutive_errors == 0  # recorded, failed over, not counted towards a ban


async def test_a_failing_flowweb_account_fails_over_to_the_other_family(tmp_path: Path, flowweb: FlowWeb,
                                                                        start_gateway: Callable) -> None:
    script = Script(default=image_plan())
    gateway, other_id, web_id = await mixed_gateway(tmp_path, flowweb, start_gateway, script)
    await gateway.pool.update(web_id, credits=5000)
    flowweb.emulator.faults.add({"kind": "status", "status": 429, "retry_after": 60, "operation": "ogiZ0b"})
    body, _ = await download(result_url(await chat(gateway, "mixed-image", "a lighthouse")))
    assert body.startswith(PNG)
    assert [c.status for c in flowweb.emulator.calls("ogiZ0b")] == [429]
    assert len(script.calls) == 1
    web = next(r for r in gateway.pool.records() if r.id == web_id)
    assert web.cooldown_until is not None  # the flowweb account rests, the other one served
