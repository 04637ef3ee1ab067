"""Control endpoints, request recording, the route table, the public facade and the CLI."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from emulator_helpers import ST_COOKIE, FlowClient

import flow2api_videofx.emulator as facade
from flow2api_videofx.emulator import DEMO_EMAIL, DEMO_ST, EMULATOR, FlowEmulator, create_app, demo_account

API_PATHS = [
    ("GET", "/v1/credits"), ("POST", "/v1/flow/uploadImage"), ("POST", "/v1:uploadUserImage"),
    ("POST", "/v1/projects/{p}/flowMedia:batchGenerateImages"), ("POST", "/v1/flow/upsampleImage"),
    *(("POST", f"/v1/video:batchAsyncGenerateVideo{k}") for k in
      ("Text", "StartImage", "StartAndEndImage", "ReferenceImages", "ExtendVideo", "UpsampleVideo")),
    ("POST", "/v1/video:batchCheckAsyncVideoGenerationStatus"), ("GET", "/v1/media/CAUSJx"),
    ("POST", "/v1:runVideoFxConcatenation"), ("POST", "/v1:runVideoFxCheckConcatenationStatus"),
]


async def test_every_api_path_is_routed(flow: FlowClient, project: str) -> None:
    for method, path in API_PATHS:
        resp = await flow.api(method, path.format(p=project), {} if method == "POST" else None)
        body = await resp.json()
        assert not body.get("error", {}).get("message", "").startswith("Method not found"), (path, body)
        assert resp.status in (200, 400, 404), (path, body)


async def test_control_accounts(http: Any, emulator: FlowEmulator) -> None:
    resp = await http.post("/_emulator/accounts", json={"email": "carol@example.com", "tier": "PAYGATE_TIER_TWO",
                                                        "credits": 50})
    account = await resp.json()
    assert resp.status == 201 and account["tier"] == "PAYGATE_TIER_TWO" and account["credits"] == 50
    body = await (await http.get("/fx/api/auth/session", headers={"Cookie": f"{ST_COOKIE}={account['st']}"})).json()
    assert body["user"]["email"] == "carol@example.com"
    assert (await http.post("/_emulator/accounts", json={"email": "x@y", "tier": "GOLD"})).status == 400
    assert (await http.post("/_emulator/accounts", json={"mail": "x@y"})).status == 400
    listed = await (await http.get("/_emulator/accounts")).json()
    assert [a["email"] for a in listed["accounts"]] == ["carol@example.com"]


async def test_control_faults(flow: FlowClient, http: Any) -> None:
    resp = await http.post("/_emulator/faults", json={"kind": "status", "status": 503, "operation": "credits"})
    rule = await resp.json()
    assert resp.status == 201 and rule["id"]
    assert (await flow.api("GET", "/v1/credits")).status == 503
    listed = await (await http.get("/_emulator/faults")).json()
    assert listed["faults"][0]["fired"] == 1
    assert (await http.delete(f"/_emulator/faults/{rule['id']}")).status == 204
    assert (await flow.api("GET", "/v1/credits")).status == 200
    resp = await http.post("/_emulator/faults", json=[{"kind": "latency", "latency_ms": 1},
                                                      {"kind": "safety", "count": 2}])
    assert len(await resp.json()) == 2
    assert (await http.delete("/_emulator/faults")).status == 204
    assert (await (await http.get("/_emulator/faults")).json())["faults"] == []
    resp = await http.post("/_emulator/faults", json={"kind": "explode"})
    assert resp.status == 400 and "kind" in (await resp.json())["error"]


async def test_requests_are_recorded_but_not_control(flow: FlowClient, http: Any, emulator: FlowEmulator) -> None:
    await http.get("/_emulator/requests")
    operations = [r.operation for r in emulator.requests]
    assert operations == ["auth.session", "credits"]
    record = emulator.calls("credits")[0]
    assert record.method == "GET" and record.path == "/v1/credits" and record.account == "alice@example.com"
    assert record.headers["authorization"].startswith("Bearer ya29.") and record.json is None
    assert record.status == 200 and record.time > 0
    await flow.project()
    recorded = await (await http.get("/_emulator/requests", params={"operation": "project.createProject"})).json()
    assert recorded["requests"][0]["json"] == {"json": {"projectTitle": "Test P1", "toolName": "PINHOLE"}}
    assert (await http.delete("/_emulator/requests")).status == 204
    assert emulator.requests == []


def test_recorded_requests_are_bounded() -> None:
    emulator = FlowEmulator(facade.EmulatorSettings(max_recorded_requests=10))
    for i in range(25):
        emulator.record(facade.RecordedRequest("GET", "/", f"op{i}", {}, None, None, 0.0, {}))
    assert len(emulator.requests) <= 10 and emulator.requests[-1].operation == "op24"


async def test_create_app_and_demo_account(aiohttp_client: Any) -> None:
    app = create_app(accounts=[demo_account()])
    assert isinstance(app[EMULATOR], FlowEmulator)
    client = await aiohttp_client(app)
    body = await (await client.get("/fx/api/auth/session", headers={"Cookie": f"{ST_COOKIE}={DEMO_ST}"})).json()
    assert body["user"]["email"] == DEMO_EMAIL == "demo@flow2api.local"
    urls = FlowEmulator.urls(str(client.make_url("")))
    assert urls.labs_base_url.endswith("/fx/api") and urls.api_base_url.endswith("/v1")


def test_public_facade() -> None:
    assert facade.__all__ == sorted(facade.__all__)
    for name in ("EmulatorAccount", "EmulatorSettings", "FlowEmulator", "create_app", "EMULATOR", "DEMO_ST"):
        assert name in facade.__all__
    defaults = facade.EmulatorSettings()
    assert (defaults.at_lifetime_s, defaults.video_polls_to_finish, defaults.captcha_polls_to_ready,
            defaults.solver_client_key, defaults.image_size, defaults.response_form, defaults.token_ttl_s,
            defaults.web_api_key) == (3600.0, 3, 1, "emulator-solver-key", 512, "media", 120.0, "emulator-web-api-key")
    account = facade.EmulatorAccount(email="a@b", name="A", st="s")
    assert (account.tier, account.credits) == ("PAYGATE_TIER_ONE", 1000)
    with pytest.raises(ValueError):
        FlowEmulator().add_account("a@b", tier="PAYGATE_TIER_NINE")


async def test_cli_serves_demo_account() -> None:
    plugin_root = Path(facade.__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_root), os.environ.get("PYTHONPATH", "")]))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow2api_videofx.emulator", "--port", "0", "--demo-account",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{match.group(1)}/fx/api/auth/session",
                                   headers={"Cookie": f"{ST_COOKIE}={DEMO_ST}"}) as resp:
                assert (await resp.json())["user"]["email"] == DEMO_EMAIL
    finally:
        process.terminate()
        stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert stdout == b"" and stderr.strip() == b""
