"""The flow.google.com emulator on its own: pages, envelope strictness, reCAPTCHA, media lifecycle, faults, control."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from yarl import URL

from flow2api_flowweb.emulator import SITE_KEY
from flow2api_flowweb.envelope import parse_reply
from flow2api_flowweb.layouts import Seeds

from flowweb_emulator_session import LAYOUT, Clock, Session, clock, emulator, session  # noqa: F401 - fixtures


def relative(url: str) -> str:
    return URL(url).path_qs


def wiz(html: str) -> dict[str, Any]:
    return json.loads(re.search(r"WIZ_global_data = (\{.*?\});", html).group(1))


async def test_pages_carry_the_bootstrap_only_when_signed_in(session: Session) -> None:
    signed_in = wiz(await (await session.page("/")).text())
    assert signed_in["SNlM0e"] == session.at and signed_in["oPEP7c"] == "alice@example.com"
    assert signed_in["cfb2h"].startswith("boq_labs-ai-sandbox-frontend_") and signed_in["xZbWve"] == SITE_KEY
    anonymous = await (await session.page("/", cookies=False)).text()
    assert "SNlM0e" not in wiz(anonymous) and "enterprise.js" not in anonymous
    project = await session.project()
    page = await session.page(f"/project/{project}")
    assert page.status == 200 and "/recaptcha/enterprise.js?render=" in await page.text()
    assert (await session.page(f"/project/{project}", cookies=False)).headers["Location"] == "/about"
    assert (await session.page("/project/00000000-0000-4000-8000-000000000000")).headers["Location"] == "/404?reason=project"


async def test_set_osid_issues_the_app_cookie_to_sso_cookies(session: Session) -> None:
    sso = "; ".join(f"{k}={v}" for k, v in session.emulator.account(session.email).cookies.items() if "OSID" not in k)
    resp = await session.http.get("/accounts/SetOSID?continue=https://flow.google.com/", headers={"Cookie": sso},
                                  allow_redirects=False)
    assert resp.status == 302 and resp.cookies["OSID"].value == session.emulator.account(session.email).cookies["OSID"]


async def test_the_envelope_is_checked_before_the_rpc(session: Session, clock: Clock) -> None:
    assert (await session.call("nzlxg", [], cookies=False)).status == 401
    assert (await session.call("nzlxg", [], at=None)).status == 401
    stale = await session.call("nzlxg", [], at="old:1")
    assert stale.status == 400 and parse_reply(400, await stale.text()).xsrf == session.at
    assert (await session.call("nzlxg", [], headers={"X-Same-Domain": ""})).status == 400
    assert (await session.call("nzlxg", [], headers={"Content-Type": "application/json"})).status == 400
    old = session.at
    clock.now += 4000
    expired = parse_reply(400, await (await session.call("nzlxg", [], at=old)).text())
    assert expired.xsrf and expired.xsrf != old and expired.xsrf == session.at
    assert await session.payload("nzlxg", []) == [100, 1, None, 2]


async def test_a_wrong_slot_is_a_bare_invalid_argument_named_in_the_detail_header(session: Session) -> None:
    outcome = await session.payload("jHPbke", ["projects/*", [None, ["t"]], [None, 21]])
    assert outcome == ("error", [3], "jHPbke: invalid argument: args[2] must be [null, 22]")
    project = await session.project()
    bare_int = LAYOUT.text_to_video(project, model="abra_t2v_8s", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE",
                                    prompt="x", resolution="720p")
    bare_int[0][0] += [None, None, 2]  # version B's bare-int resolution
    assert (await session.payload("YhhmEf", bare_int, project=project))[1] == [3]


async def test_tokens_are_single_use_per_action_and_page(session: Session) -> None:
    project = await session.project()
    args = LAYOUT.generate_images(project, model="NARWHAL", aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", prompt="a",
                                  inputs=[], count=1, seed=3)
    token = await session.token(project, "ogiZ0b")
    assert (await session.payload("ogiZ0b", args, project=project, token=token))[0][0][3] == "CAE"
    reused = await session.payload("ogiZ0b", args, project=project, token=token)
    assert reused[1][2] == [["type.googleapis.com/google.rpc.ErrorInfo", ["PUBLIC_ERROR_UNUSUAL_ACTIVITY"]]]
    assert "token-reused" in reused[2]
    video_token = await session.token(project, "YhhmEf")
    assert "wrong-action" in (await session.payload("ogiZ0b", args, project=project, token=video_token))[2]
    grid = await session.http.post(f"/recaptcha/enterprise/reload?k={SITE_KEY}", json={"action": "X", "page": "/"})
    assert grid.status == 400


async def test_the_solver_needs_a_project_page(session: Session) -> None:
    key = session.emulator.settings.solver_client_key
    task = {"type": "RecaptchaV3TaskProxylessM1S9", "websiteKey": SITE_KEY, "pageAction": "IMAGE_GENERATION",
            "websiteURL": "https://flow.google.com/"}
    bad = await (await session.http.post("/solver/createTask", json={"clientKey": key, "task": task})).json()
    assert bad["errorCode"] == "ERROR_INCORRECT_SESSION_DATA"
    task["websiteURL"] = "https://flow.google.com/project/00000000-0000-4000-8000-000000000000"
    created = await (await session.http.post("/solver/createTask", json={"clientKey": key, "task": task})).json()
    result = await (await session.http.post("/solver/getTaskResult", json={"clientKey": key,
                                                                           "taskId": created["taskId"]})).json()
    assert result["status"] == "ready" and result["solution"]["gRecaptchaResponse"].startswith("03AF")


async def test_video_lifecycle_status_then_urls_then_ranged_content(session: Session, clock: Clock) -> None:
    session.emulator.settings.url_delay_reads = 1
    project = await session.project()
    submit = await session.payload("YhhmEf", LAYOUT.text_to_video(
        project, model="veo_3_1_t2v_lite", aspect_ratio="VIDEO_ASPECT_RATIO_PORTRAIT", prompt="p", resolution="720p"),
        project=project)
    record = submit[3][0][0]
    assert record[3] == "CAE" and record[5][8] == [6] and submit[1] == 90
    media = record[0]
    statuses = [(await session.payload("jwpduf", LAYOUT.check_status([media])))[2][0][0][5][8] for _ in range(3)]
    assert statuses == [[2], [3], [3]]
    assert await session.payload("as29s", [media]) == media
    done = await session.payload("as29s", [media])
    video_url = done[7][0][8]
    assert done[5][10] and done[5][13] > 0 and "/fc/video/" in video_url and "KeyName=labs-flow-prod-cdn-key" in video_url
    ranged = await session.http.get(relative(video_url), headers={"Range": "bytes=0-7"})
    assert ranged.status == 206 and (await ranged.read())[4:8] == b"ftyp"
    clock.now += 7200
    assert (await session.http.get(relative(video_url))).status == 403


def spec_derived_id(seed: str) -> str:
    """Spec §3.3 in words: SHA-256 of the seed, first 32 hex digits, version nibble 4, variant bits 10xx, as a UUID."""
    digits = hashlib.sha256(seed[:64].encode()).hexdigest()[:32]
    variant = "89ab"[int(digits[16], 16) & 0b11]
    text = digits[:12] + "4" + digits[13:16] + variant + digits[17:]
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


async def test_a_submit_creates_the_ids_its_seeds_pre_assign_and_refuses_a_reused_seed(session: Session) -> None:
    project = await session.project()
    seeds = Seeds("0F6A1D8E-3B1C-4C55-9E0B-6B1D2C3A4F50", "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D")
    args = LAYOUT.text_to_video(project, model="veo_3_1_t2v_lite", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE",
                                prompt="p", resolution="720p", seeds=seeds)
    assert (await session.payload("jwpduf", LAYOUT.check_status([spec_derived_id(seeds.media)])))[2] == []
    record = (await session.payload("YhhmEf", args, project=project))[3][0][0]
    assert record[0] == spec_derived_id(seeds.media) == seeds.media_id
    assert record[2] == spec_derived_id(seeds.workflow)
    known = await session.payload("jwpduf", LAYOUT.check_status([seeds.media_id]))
    assert [r[0][0] for r in known[2]] == [seeds.media_id]
    again = LAYOUT.text_to_video(project, model="veo_3_1_t2v_lite", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE",
                                 prompt="p", resolution="720p", seeds=seeds)
    refused = await session.payload("YhhmEf", again, project=project)
    assert refused[0] == "error" and refused[1][0] == 3 and "seed was used before" in refused[2]


async def test_extend_from_the_workflow_id_is_accepted_but_never_scheduled(session: Session) -> None:
    project = await session.project()
    record = (await session.payload("YhhmEf", LAYOUT.text_to_video(
        project, model="veo_3_1_t2v_lite", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="p", resolution="720p"),
        project=project))[3][0][0]
    for _ in range(2):
        await session.payload("jwpduf", LAYOUT.check_status([record[0]]))
    wrong = await session.payload("fZytfe", LAYOUT.extend_video(
        project, model="veo_3_1_extend_lite", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="more",
        source=record[2], source_seconds=8), project=project)
    stuck = wrong[3][0][0][0]
    for _ in range(3):
        status = await session.payload("jwpduf", LAYOUT.check_status([stuck]))
    assert status[2][0][0][5][8] == [6]
    upscale = LAYOUT.upscale_video(project, source=record[0], workflow_id="not-the-workflow",
                                   aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", target="VIDEO_RESOLUTION_1080P",
                                   upsampler_key="veo_3_1_upsampler_1080p", seed="5F1C2B2E-0000-4000-8000-000000000000")
    assert (await session.payload("p0UkFb", upscale, project=project))[1] == [3]


async def test_out_of_credits_and_ultra_keys(session: Session) -> None:
    session.emulator.account(session.email).credits = 5
    project = await session.project()
    args = LAYOUT.text_to_video(project, model="veo_3_1_t2v_fast", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE",
                                prompt="p", resolution="720p")
    quota = await session.payload("YhhmEf", args, project=project)
    assert quota[1][0] == 8 and quota[1][2][0][1] == [2]
    ultra = LAYOUT.start_image_to_video(project, model="veo_3_1_i2v_s_fast_ultra",
                                        aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="p", start="x",
                                        resolution="720p")
    denied = await session.payload("eb1hJf", ultra, project=project)
    assert denied[1] == [7, None, [["type.googleapis.com/google.rpc.ErrorInfo", ["PUBLIC_ERROR_MODEL_ACCESS_DENIED"]]]]


async def test_faults_through_the_control_endpoints(session: Session) -> None:
    http = session.http
    rule = await (await http.post("/_emulator/faults", json={"kind": "status", "status": 429, "retry_after": 7,
                                                             "account": "alice@example.com", "operation": "nzlxg",
                                                             "count": 1})).json()
    limited = await session.call("nzlxg", [])
    assert limited.status == 429 and limited.headers["Retry-After"] == "7"
    assert (await session.call("nzlxg", [])).status == 200
    faults = (await (await http.get("/_emulator/faults")).json())["faults"]
    assert faults[0]["id"] == rule["id"] and faults[0]["fired"] == 1
    await http.post("/_emulator/faults", json={"kind": "rpc_error", "operation": "nzlxg", "code": 8, "aitk": 3, "count": 1})
    assert (await session.payload("nzlxg", []))[1] == [8, None, [[
        "type.googleapis.com/google.internal.labs.aisandbox.proto.common.v1.PublicAitkError", [3]]]]
    await http.post("/_emulator/faults", json={"kind": "bad_shape", "operation": "nzlxg", "count": 1})
    assert await session.payload("nzlxg", []) == []
    await http.post("/_emulator/faults", json={"kind": "expire_xsrf", "operation": "nzlxg", "count": 1})
    assert (await session.call("nzlxg", [])).status == 400
    await http.post("/_emulator/faults", json={"kind": "expire_cookies", "account": "alice@example.com"})
    assert (await session.call("nzlxg", [])).status == 401
    assert (await session.page("/project/00000000-0000-4000-8000-000000000000")).headers["Location"] == "/about"
    assert (await http.delete("/_emulator/faults")).status == 204
    recorded = (await (await http.get("/_emulator/requests?operation=nzlxg")).json())["requests"]
    assert [r["status"] for r in recorded][:2] == [429, 200] and recorded[0]["account"] == "alice@example.com"
    assert recorded[1]["args"] == []
    assert (await http.post("/_emulator/faults", json={"kind": "status"})).status == 400


async def test_accounts_through_the_control_endpoint(session: Session) -> None:
    created = await (await session.http.post("/_emulator/accounts", json={"email": "bob@example.com", "tier": 2})).json()
    assert "\tOSID\t" in created["cookies_txt"] and "flow.google.com" in created["cookies_txt"]
    assert {c["name"] for c in json.loads(created["cookies_json"])} >= {"SID", "OSID", "__Secure-1PSID"}
    listed = (await (await session.http.get("/_emulator/accounts")).json())["accounts"]
    assert {a["email"] for a in listed} == {"alice@example.com", "bob@example.com"}


async def test_slow_media_streams_the_content(session: Session) -> None:
    project = await session.project()
    image = (await session.payload("ogiZ0b", LAYOUT.generate_images(
        project, model="NARWHAL", aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", prompt="a", inputs=[], count=1, seed=3),
        project=project))[0][0]
    session.emulator.faults.add({"kind": "slow_media", "bytes_per_second": 10_000_000})
    resp = await session.http.get(relative(image[6][0][13]))
    body = await resp.read()
    assert resp.status == 200 and body.startswith(b"\x89PNG") and int(resp.headers["Content-Length"]) == len(body)
    assert session.emulator.faults.rules[0].fired == 1
