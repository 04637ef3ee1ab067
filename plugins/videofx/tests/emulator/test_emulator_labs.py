"""{labs}: NextAuth session (spec §1.3, §2.1), tRPC procedures (§2.3, §2.4, §2.18), {api} auth (§1.2, §2.2)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from emulator_helpers import ST_COOKIE, UA, FlowClient, assert_google_error

from flow2api_videofx.emulator import FlowEmulator

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_session_returns_fresh_at_with_expiry(http: Any, emulator: FlowEmulator, clock: Any) -> None:
    account = emulator.add_account("bob@example.com", name="Bob Builder")
    assert account.st.startswith("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..")
    headers = {"Cookie": f"{ST_COOKIE}={account.st}"}
    first = await (await http.get("/fx/api/auth/session", headers=headers)).json()
    second = await (await http.get("/fx/api/auth/session", headers=headers)).json()
    assert first["user"]["email"] == "bob@example.com" and first["user"]["name"] == "Bob Builder"
    assert first["access_token"] != second["access_token"]
    assert ISO_Z.match(first["expires"])
    expires = datetime.fromisoformat(first["expires"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (clock.now + emulator.settings.at_lifetime_s)) < 1


async def test_session_without_or_with_unknown_st_is_empty(http: Any) -> None:
    for headers in ({}, {"Cookie": f"{ST_COOKIE}=not-a-session"}):
        resp = await http.get("/fx/api/auth/session", headers=headers)
        assert resp.status == 200 and await resp.json() == {}


async def test_chunked_session_cookie_is_joined(http: Any, emulator: FlowEmulator) -> None:
    st = emulator.add_account("chunk@example.com").st
    cookie = f"{ST_COOKIE}.0={st[:100]}; {ST_COOKIE}.1={st[100:]}"
    body = await (await http.get("/fx/api/auth/session", headers={"Cookie": cookie})).json()
    assert body["user"]["email"] == "chunk@example.com"


async def test_credits_and_auth_failures(flow: FlowClient, http: Any, clock: Any) -> None:
    resp = await flow.api("GET", "/v1/credits")
    assert await resp.json() == {"credits": 1000, "userPaygateTier": "PAYGATE_TIER_ONE"}

    resp = await http.get("/v1/credits")
    assert resp.status == 401
    assert_google_error(await resp.json(), 401, "UNAUTHENTICATED", reason="CREDENTIALS_MISSING")

    resp = await http.get("/v1/credits", headers={"authorization": "Bearer ya29.bogus"})
    body = await resp.json()
    assert resp.status == 401 and body["error"]["message"].startswith("Request had invalid authentication credentials")
    assert_google_error(body, 401, "UNAUTHENTICATED", reason="ACCESS_TOKEN_TYPE_UNSUPPORTED")
    assert body["error"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"

    clock.advance(3601)
    resp = await flow.api("GET", "/v1/credits")
    assert resp.status == 401
    assert_google_error(await resp.json(), 401, "UNAUTHENTICATED", reason="ACCESS_TOKEN_EXPIRED")
    await flow.login()  # a refresh gives a working AT again
    assert (await flow.api("GET", "/v1/credits")).status == 200


async def test_create_project_and_trpc_rules(flow: FlowClient, http: Any, emulator: FlowEmulator) -> None:
    project_id = await flow.project("Base P1")
    assert emulator.world.projects[project_id].email == "alice@example.com"

    resp = await http.post("/fx/api/trpc/project.createProject",
                           json={"json": {"projectTitle": "x", "toolName": "PINHOLE"}})
    body = await resp.json()
    assert resp.status == 401 and body["error"]["json"]["data"]["code"] == "UNAUTHORIZED"

    resp = await flow.trpc_post("project.createProject", {"projectTitle": "x", "toolName": "ASSET_MANAGER"})
    body = await resp.json()
    assert resp.status == 400 and "toolName" in body["error"]["json"]["message"]

    resp = await http.get("/fx/api/trpc/project.createProject", headers={"Cookie": f"{ST_COOKIE}={flow.st}"})
    assert resp.status == 405 and (await resp.json())["error"]["json"]["data"]["code"] == "METHOD_NOT_SUPPORTED"

    resp = await flow.trpc_post("project.noSuchThing", {})
    assert resp.status == 404

    resp = await flow.trpc_post("project.deleteProject", {"projectToDeleteId": project_id})
    assert resp.status == 200 and emulator.world.projects[project_id].deleted


async def test_warm_up_calls_are_accepted_and_recorded(flow: FlowClient, http: Any, project: str,
                                                       emulator: FlowEmulator) -> None:
    cookie = {"Cookie": f"{ST_COOKIE}={flow.st}", "Referer": f"https://labs.google/fx/tools/flow/project/{project}"}
    enc = '{"json":null,"meta":{"values":["undefined"]}}'
    for procedure in ("general.fetchUserPreferences", "videoFx.getFlowAppConfig", "videoFx.getUserSettings"):
        resp = await http.get(f"/fx/api/trpc/{procedure}", params={"input": enc}, headers=cookie)
        assert resp.status == 200, procedure
        assert "result" in (await resp.json())["result"]["data"]["json"]
    resp = await http.get("/fx/api/trpc/flow.projectInitialData",
                          params={"input": f'{{"json":{{"projectId":"{project}"}}}}'}, headers=cookie)
    assert (await resp.json())["result"]["data"]["json"]["result"]["projectId"] == project
    log = {"appEvents": [{"event": "PAGE_VIEW", "eventProperties": [
        {"key": "URL", "stringValue": f"https://labs.google/fx/tools/flow/project/{project}"},
        {"key": "USER_AGENT", "stringValue": UA}, {"key": "IS_DESKTOP"}], "activeExperiments": [],
        "eventMetadata": {"sessionId": ";1766049528123"}, "eventTime": "2026-06-24T08:00:00.000Z"}]}
    assert (await flow.trpc_post("general.submitBatchLog", log)).status == 200

    body = {"clientContext": {"tool": "PINHOLE"}}
    resp = await http.post("/v1:checkAppAvailability", json=body,
                           headers={"x-goog-api-key": emulator.settings.web_api_key,
                                    "Content-Type": "text/plain;charset=UTF-8"})
    assert resp.status == 200
    resp = await http.post("/v1:checkAppAvailability", json=body, headers={"x-goog-api-key": "wrong"})
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", reason="API_KEY_INVALID")
    resp = await http.post("/v1:checkAppAvailability", json=body)
    assert resp.status == 403
    for op in ("general.fetchUserPreferences", "videoFx.getFlowAppConfig", "videoFx.getUserSettings",
               "general.submitBatchLog", "checkAppAvailability"):
        assert emulator.calls(op), op
    assert emulator.calls("general.submitBatchLog")[0].account == "alice@example.com"


async def test_unknown_api_path_is_google_404(flow: FlowClient) -> None:
    resp = await flow.api("POST", "/v1/video:batchAsyncUpsampleVideo", {})
    assert_google_error(await resp.json(), 404, "NOT_FOUND")
    resp = await flow.api("POST", "/v1/credits", {})
    assert resp.status == 404
