"""Fault injection: every kind, matching by account/operation, count, seeded probability."""

from __future__ import annotations

import time
from typing import Any

import pytest
from emulator_helpers import ST_COOKIE, FlowClient, assert_google_error, fetch, image_body, video_body

from flow2api_videofx.emulator import EmulatorSettings, FaultInjector, FaultRule, FlowEmulator


async def test_status_429_with_retry_after_fires_count_times(flow: FlowClient, emulator: FlowEmulator) -> None:
    rule = emulator.faults.add({"kind": "status", "status": 429, "retry_after": 30, "operation": "credits",
                                "count": 1})
    resp = await flow.api("GET", "/v1/credits")
    body = await resp.json()
    assert resp.status == 429 and resp.headers["Retry-After"] == "30"
    assert body == {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                              "status": "RESOURCE_EXHAUSTED", "details": [
                                  {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                   "reason": "RATE_LIMIT_EXCEEDED", "domain": "aisandbox-pa.googleapis.com"},
                                  {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}}
    assert (await flow.api("GET", "/v1/credits")).status == 200
    assert rule.fired == 1
    assert [r.status for r in emulator.calls("credits")][-2:] == [429, 200]


@pytest.mark.parametrize(("status", "grpc"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
async def test_status_5xx(flow: FlowClient, project: str, emulator: FlowEmulator, status: int, grpc: str) -> None:
    emulator.faults.add(FaultRule(kind="status", status=status, operation="batchGenerate*"))
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    resp = await flow.api("POST", f"/v1/projects/{project}/flowMedia:batchGenerateImages",
                          image_body(project, token), ua=ua)
    body = await resp.json()
    assert_google_error(body, status, grpc)
    assert "details" not in body["error"]


async def test_status_on_other_surfaces(flow: FlowClient, http: Any, emulator: FlowEmulator) -> None:
    emulator.faults.add({"kind": "status", "status": 503, "operation": "project.createProject", "count": 1})
    resp = await flow.trpc_post("project.createProject", {"projectTitle": "x", "toolName": "PINHOLE"})
    assert resp.status == 503 and (await resp.json())["error"]["json"]["data"]["httpStatus"] == 503
    emulator.faults.add({"kind": "status", "status": 400, "operation": "createTask", "count": 1})
    answer = await (await http.post("/solver/createTask", json={})).json()
    assert answer["errorCode"] == "ERROR_NO_SLOT_AVAILABLE"


async def test_latency(flow: FlowClient, emulator: FlowEmulator) -> None:
    emulator.faults.add({"kind": "latency", "latency_ms": 150, "operation": "credits", "count": 1})
    started = time.monotonic()
    assert (await flow.api("GET", "/v1/credits")).status == 200
    assert time.monotonic() - started >= 0.15


async def test_expire_at(flow: FlowClient, emulator: FlowEmulator) -> None:
    emulator.faults.add({"kind": "expire_at", "account": "alice@example.com", "count": 1})
    resp = await flow.api("GET", "/v1/credits")
    assert_google_error(await resp.json(), 401, "UNAUTHENTICATED", reason="ACCESS_TOKEN_EXPIRED")
    await flow.login()
    assert (await flow.api("GET", "/v1/credits")).status == 200


async def test_captcha_fail_waits_for_a_generation(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    rule = emulator.faults.add({"kind": "captcha_fail", "count": 1})
    await flow.upload(project)  # not a generation: the rule stays armed
    assert rule.fired == 0
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    resp = await flow.api("POST", f"/v1/projects/{project}/flowMedia:batchGenerateImages",
                          image_body(project, token), ua=ua)
    assert_google_error(await resp.json(), 403, "PERMISSION_DENIED", reason="PUBLIC_ERROR_UNUSUAL_ACTIVITY")
    assert resp.headers["X-Emulator-Detail"] == "fault-injected"
    await flow.generate_image(project)  # next one passes


async def test_video_fail(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    emulator.faults.add({"kind": "video_fail", "count": 1, "error_code": 3, "error_message": "Audio generation failed"})
    name = (await flow.submit_video(project))["media"][0]["name"]
    for _ in range(emulator.settings.video_polls_to_finish):
        item = (await flow.poll([name], project))[0]
    status = item["mediaMetadata"]["mediaStatus"]
    assert status == {"mediaGenerationStatus": "MEDIA_GENERATION_STATUS_FAILED",
                      "error": {"code": 3, "message": "Audio generation failed"}}
    emulator.faults.add({"kind": "video_fail", "media_status": "MEDIA_GENERATION_STATUS_ERROR_UNKNOWN"})
    name = (await flow.submit_video(project))["media"][0]["name"]
    for _ in range(emulator.settings.video_polls_to_finish):
        item = (await flow.poll([name], project))[0]
    assert item["mediaMetadata"]["mediaStatus"]["mediaGenerationStatus"] == "MEDIA_GENERATION_STATUS_ERROR_UNKNOWN"


async def test_safety(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    emulator.faults.add({"kind": "safety", "count": 1})
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    resp = await flow.api("POST", f"/v1/projects/{project}/flowMedia:batchGenerateImages",
                          image_body(project, token), ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", reason="PUBLIC_ERROR_UNSAFE_GENERATION")
    emulator.faults.add({"kind": "safety", "reason": "PUBLIC_ERROR_MINOR", "operation": "batchAsyncGenerateVideo*"})
    token, ua = await flow.solve(project, "VIDEO_GENERATION")
    resp = await flow.api("POST", "/v1/video:batchAsyncGenerateVideoText", video_body(project, token, flow.tier), ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", reason="PUBLIC_ERROR_MINOR")


async def test_slow_media(flow: FlowClient, project: str, http: Any, emulator: FlowEmulator) -> None:
    name, _ = await flow.finished_video(project)
    location = await flow.redirect(name)
    fast = await (await fetch(http, location)).read()
    emulator.faults.add({"kind": "slow_media", "bytes_per_second": 40_000, "operation": "cdn.video"})
    started = time.monotonic()
    resp = await fetch(http, location)
    slow = await resp.read()
    assert slow == fast and time.monotonic() - started >= 0.15
    assert int(resp.headers["Content-Length"]) == len(fast)


async def test_bad_shape(flow: FlowClient, project: str, http: Any, emulator: FlowEmulator) -> None:
    emulator.faults.add({"kind": "bad_shape", "operation": "batchGenerateImages", "count": 1})
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    resp = await flow.api("POST", f"/v1/projects/{project}/flowMedia:batchGenerateImages",
                          image_body(project, token), ua=ua)
    assert resp.status == 200 and "media" not in await resp.json()
    emulator.faults.add({"kind": "bad_shape", "operation": "auth.session", "count": 1})
    body = await (await http.get("/fx/api/auth/session", headers={"Cookie": f"{ST_COOKIE}={flow.st}"})).json()
    assert "access_token" not in body and body["user"]["email"] == "alice@example.com"
    name, _ = await flow.finished_video(project)
    emulator.faults.add({"kind": "bad_shape", "operation": "media.getMediaUrlRedirect", "count": 1})
    resp = await http.get("/fx/api/trpc/media.getMediaUrlRedirect",
                          params={"name": name, "mediaUrlType": "MEDIA_URL_TYPE_FULL_MEDIA"},
                          headers={"Cookie": f"{ST_COOKIE}={flow.st}"}, allow_redirects=False)
    assert resp.status == 200 and "Location" not in resp.headers
    emulator.faults.add({"kind": "bad_shape", "operation": "credits", "field": "userPaygateTier", "count": 1})
    assert await (await flow.api("GET", "/v1/credits")).json() == {"credits": emulator.accounts[
        "alice@example.com"].credits}


async def test_account_matching(flow: FlowClient, http: Any, emulator: FlowEmulator) -> None:
    emulator.faults.add({"kind": "status", "status": 500, "account": "bob@example.com"})
    assert (await flow.api("GET", "/v1/credits")).status == 200
    bob_st = emulator.add_account("bob@example.com").st
    resp = await http.get("/fx/api/auth/session", headers={"Cookie": f"{ST_COOKIE}={bob_st}"})
    assert resp.status == 500  # the session call is attributed to bob through his ST
    assert emulator.calls("auth.session")[-1].account == "bob@example.com"


def test_probability_is_seeded_and_reproducible() -> None:
    def decisions(seed: int) -> list[bool]:
        injector = FaultInjector(seed)
        injector.add({"kind": "status", "status": 503, "probability": 0.5})
        return [injector.take("status", "credits", None) is not None for _ in range(40)]

    assert decisions(7) == decisions(7)
    assert 5 < sum(decisions(7)) < 35
    assert FlowEmulator(EmulatorSettings(fault_seed=7)).faults.take("status", "x", None) is None


def test_rule_validation() -> None:
    with pytest.raises(ValueError):
        FaultRule(kind="status")
    with pytest.raises(ValueError):
        FaultRule(kind="latency")
    with pytest.raises(ValueError):
        FaultRule(kind="video_fail", media_status="MEDIA_GENERATION_STATUS_SUCCESSFUL")
    with pytest.raises(ValueError):
        FaultRule.model_validate({"kind": "status", "status": 500, "colour": "red"})
