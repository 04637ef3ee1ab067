"""reCAPTCHA: the anti-captcha style solver and token verification on generation calls (spec §1.6)."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_helpers import UA, FlowClient, assert_google_error, image_body, video_body

from flow2api_videofx.emulator import DEFAULT_USER_AGENT, RECAPTCHA_SITE_KEY, FlowEmulator

IMAGE_PATH = "/v1/projects/{}/flowMedia:batchGenerateImages"


def task(project_id: str, **overrides: Any) -> dict[str, Any]:
    base = {"type": "RecaptchaV3TaskProxylessM1S9", "websiteKey": RECAPTCHA_SITE_KEY,
            "websiteURL": f"https://labs.google/fx/tools/flow/project/{project_id}", "pageAction": "IMAGE_GENERATION",
            "userAgent": UA, "minScore": 0.9}
    base.update(overrides)
    return base


async def test_solver_processing_then_ready(http: Any, emulator: FlowEmulator, project: str) -> None:
    emulator.settings.captcha_polls_to_ready = 2
    key = emulator.settings.solver_client_key
    created = await (await http.post("/solver/createTask", json={"clientKey": key, "task": task(project)})).json()
    assert created["errorId"] == 0
    statuses = []
    for _ in range(3):
        result = await (await http.post("/solver/getTaskResult",
                                        json={"clientKey": key, "taskId": created["taskId"]})).json()
        statuses.append(result["status"])
    assert statuses == ["processing", "processing", "ready"]
    assert result["solution"]["userAgent"] == UA
    assert result["solution"]["gRecaptchaResponse"].startswith("03A")


async def test_solver_default_user_agent(flow: FlowClient, project: str) -> None:
    _, ua = await flow.solve(project, "VIDEO_GENERATION", ua=None)
    assert ua == DEFAULT_USER_AGENT


@pytest.mark.parametrize(("body_change", "code"), [
    ({"clientKey": "wrong"}, "ERROR_KEY_DOES_NOT_EXIST"),
    ({"task": None}, "ERROR_TASK_ABSENT"),
    ({"task": {"type": "NoCaptchaTaskProxyless"}}, "ERROR_TASK_NOT_SUPPORTED"),
    ({"task": {"websiteKey": "6Lwrong"}}, "ERROR_RECAPTCHA_INVALID_SITEKEY"),
    ({"task": {"websiteURL": "https://labs.google/fx/tools/flow"}}, "ERROR_INCORRECT_SESSION_DATA"),
    ({"task": {"pageAction": "FLOW_GENERATION"}}, "ERROR_INCORRECT_SESSION_DATA"),
])
async def test_solver_rejects_bad_tasks(http: Any, emulator: FlowEmulator, project: str,
                                        body_change: dict[str, Any], code: str) -> None:
    body: dict[str, Any] = {"clientKey": emulator.settings.solver_client_key, "task": task(project)}
    if "task" in body_change and isinstance(body_change["task"], dict):
        body["task"].update(body_change["task"])
    else:
        body.update(body_change)
    resp = await http.post("/solver/createTask", json=body)
    answer = await resp.json()
    assert resp.status == 200 and answer["errorId"] > 0 and answer["errorCode"] == code


async def test_solver_unknown_task(http: Any, emulator: FlowEmulator) -> None:
    answer = await (await http.post("/solver/getTaskResult", json={
        "clientKey": emulator.settings.solver_client_key, "taskId": "nope"})).json()
    assert answer["errorCode"] == "ERROR_NO_SUCH_CAPCHA_ID"


async def _post_image(flow: FlowClient, project: str, token: str | None, ua: str = UA) -> Any:
    return await flow.api("POST", IMAGE_PATH.format(project), image_body(project, token), ua=ua)


async def assert_captcha_403(resp: Any, detail: str) -> None:
    assert resp.status == 403
    body = await resp.json()
    assert body == {"error": {"code": 403, "message": "reCAPTCHA evaluation failed", "status": "PERMISSION_DENIED",
                              "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                           "reason": "PUBLIC_ERROR_UNUSUAL_ACTIVITY",
                                           "domain": "aisandbox-pa.googleapis.com"}]}}
    assert resp.headers["X-Emulator-Detail"].startswith(detail)


async def test_missing_token(flow: FlowClient, project: str) -> None:
    await assert_captcha_403(await _post_image(flow, project, None), "missing-token")
    body = image_body(project, "")
    resp = await flow.api("POST", IMAGE_PATH.format(project), body)
    await assert_captcha_403(resp, "missing-token")


async def test_unknown_token(flow: FlowClient, project: str) -> None:
    await assert_captcha_403(await _post_image(flow, project, "03AFcWeAforged"), "unknown-token")


async def test_token_is_single_use(flow: FlowClient, project: str) -> None:
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    assert (await _post_image(flow, project, token, ua)).status == 200
    await assert_captcha_403(await _post_image(flow, project, token, ua), "token-reused")


async def test_wrong_action(flow: FlowClient, project: str) -> None:
    token, ua = await flow.solve(project, "VIDEO_GENERATION")
    await assert_captcha_403(await _post_image(flow, project, token, ua), "wrong-action")
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    resp = await flow.api("POST", "/v1/video:batchAsyncGenerateVideoText", video_body(project, token, flow.tier), ua=ua)
    await assert_captcha_403(resp, "wrong-action")


async def test_wrong_user_agent(flow: FlowClient, project: str) -> None:
    token, _ = await flow.solve(project, "IMAGE_GENERATION")
    await assert_captcha_403(await _post_image(flow, project, token, ua=DEFAULT_USER_AGENT), "user-agent-mismatch")


async def test_wrong_project(flow: FlowClient, project: str) -> None:
    other = await flow.project("Other P2")
    token, ua = await flow.solve(other, "IMAGE_GENERATION")
    await assert_captcha_403(await _post_image(flow, project, token, ua), "wrong-project")


async def test_expired_token(flow: FlowClient, project: str, clock: Any, emulator: FlowEmulator) -> None:
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    clock.advance(emulator.settings.token_ttl_s + 1)
    await flow.login()
    await assert_captcha_403(await _post_image(flow, project, token, ua), "token-expired")


async def test_per_request_token_must_match_top(flow: FlowClient, project: str) -> None:
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    body = image_body(project, token)
    body["requests"][0]["clientContext"] = dict(body["clientContext"], recaptchaContext={
        "token": "other", "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"})
    resp = await flow.api("POST", IMAGE_PATH.format(project), body, ua=ua)
    await assert_captcha_403(resp, "per-request")


async def test_old_recaptcha_token_field_is_rejected(flow: FlowClient, project: str) -> None:
    body = image_body(project, None)
    body["clientContext"]["recaptchaToken"] = "x"
    resp = await flow.api("POST", IMAGE_PATH.format(project), body)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="clientContext.recaptchaToken")


async def test_bad_application_type_is_400(flow: FlowClient, project: str) -> None:
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    body = image_body(project, token)
    body["clientContext"]["recaptchaContext"]["applicationType"] = "RECAPTCHA_APPLICATION_TYPE_ANDROID"
    resp = await flow.api("POST", IMAGE_PATH.format(project), body, ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT",
                        field="clientContext.recaptchaContext.applicationType")
