"""Videos: submits (spec §2.8-§2.13, §2.15), batched status and the state machine (§2.14, §3.1),
media name vs video UUID (§3.3), concatenation (§2.20)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from emulator_helpers import FlowClient, assert_google_error, video_body

from flow2api_videofx.emulator import FlowEmulator

PENDING, ACTIVE, SUCCESSFUL = (f"MEDIA_GENERATION_STATUS_{s}" for s in ("PENDING", "ACTIVE", "SUCCESSFUL"))


def status_of(item: dict[str, Any]) -> str:
    return item["mediaMetadata"]["mediaStatus"]["mediaGenerationStatus"]


async def test_text_to_video_media_form(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    answer = await flow.submit_video(project)
    assert answer["remainingCredits"] == 1000 - 20
    media = answer["media"][0]
    assert media["projectId"] == project and status_of(media) == PENDING
    assert media["video"]["operation"]["name"] != media["name"]
    assert answer["workflows"][0]["metadata"]["primaryMediaId"] == media["name"]
    assert emulator.calls("batchAsyncGenerateVideoText")[0].json["requests"][0]["videoModelKey"] == "veo_3_1_t2v_fast"


async def test_operations_form(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    emulator.settings.response_form = "operations"
    answer = await flow.submit_video(project)
    op = answer["operations"][0]
    assert op["status"] == PENDING and "remainingCredits" in answer and "media" not in answer
    items = await flow.poll([op["operation"]["name"]], project)
    assert items[0]["name"] == op["operation"]["name"]


async def test_state_machine_with_batched_status(flow: FlowClient, project: str) -> None:
    first = (await flow.submit_video(project))["media"][0]["name"]
    second = (await flow.submit_video(project, aspect="VIDEO_ASPECT_RATIO_PORTRAIT",
                                      key="veo_3_1_t2v_fast_portrait"))["media"][0]["name"]
    seen = []
    for _ in range(3):
        items = await flow.poll([first, second], project)
        assert [i["name"] for i in items] == [first, second]
        seen.append([status_of(i) for i in items])
    assert seen == [[PENDING, PENDING], [ACTIVE, ACTIVE], [SUCCESSFUL, SUCCESSFUL]]
    third = (await flow.submit_video(project))["media"][0]["name"]
    items = await flow.poll([first, third], project)  # a finished one stays finished
    assert [status_of(i) for i in items] == [SUCCESSFUL, PENDING]
    done = items[0]
    control = done["mediaMetadata"]["requestData"]["videoGenerationRequestData"]["videoModelControlInput"]
    assert control == {"videoModelName": "veo_3_1_t2v_fast", "videoAspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE"}
    assert done["video"]["generatedVideo"]["model"] == "veo_3_1_t2v_fast"
    assert int(done["mediaMetadata"]["mediaBlobSize"]) > 1000
    assert "fifeUrl" not in done["video"]


async def test_status_validation(flow: FlowClient, project: str) -> None:
    name = (await flow.submit_video(project))["media"][0]["name"]
    resp = await flow.api("POST", "/v1/video:batchCheckAsyncVideoGenerationStatus", {"operations": [{}]})
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="operations")
    resp = await flow.api("POST", "/v1/video:batchCheckAsyncVideoGenerationStatus",
                          {"media": [{"name": "CAUSJnope", "projectId": project}]})
    assert_google_error(await resp.json(), 404, "NOT_FOUND")
    other = await flow.project("P2")
    resp = await flow.api("POST", "/v1/video:batchCheckAsyncVideoGenerationStatus",
                          {"media": [{"name": name, "projectId": other}]})
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="media[0].projectId")


async def test_status_of_a_vanished_project_is_not_found_for_the_whole_batch(flow: FlowClient, project: str,
                                                                             emulator: FlowEmulator) -> None:
    kept = await flow.project("P2")
    gone_name = (await flow.submit_video(project))["media"][0]["name"]
    kept_name = (await flow.submit_video(kept))["media"][0]["name"]
    emulator.world.projects[project].deleted = True
    resp = await flow.api("POST", "/v1/video:batchCheckAsyncVideoGenerationStatus",
                          {"media": [{"name": kept_name, "projectId": kept}, {"name": gone_name, "projectId": project}]})
    body = await resp.json()
    assert_google_error(body, 404, "NOT_FOUND")
    assert f"project {project}" in body["error"]["message"] and "media[1].projectId" in body["error"]["message"]
    assert [item["name"] for item in await flow.poll([kept_name], kept)] == [kept_name]
    resp = await flow.api("GET", f"/v1/media/{gone_name}")  # the media itself is still reachable by name
    assert resp.status != 404


async def test_result_via_redirect_and_get_media(flow: FlowClient, project: str, http: Any) -> None:
    name, video_id = await flow.finished_video(project)
    uuid.UUID(video_id)
    assert video_id != name
    resp = await flow.api("GET", f"/v1/media/{name}")
    answer = await resp.json()
    data = base64.b64decode(answer["video"]["encodedVideo"])
    assert data[4:8] == b"ftyp" and answer["video"]["model"] == "veo_3_1_t2v_fast"
    assert answer["video"]["aspectRatio"] == "VIDEO_ASPECT_RATIO_LANDSCAPE" and answer["video"]["seed"] == 4242


async def test_unfinished_video_has_no_url(flow: FlowClient, project: str, http: Any) -> None:
    name = (await flow.submit_video(project))["media"][0]["name"]
    resp = await http.get("/fx/api/trpc/media.getMediaUrlRedirect",
                          params={"name": name, "mediaUrlType": "MEDIA_URL_TYPE_FULL_MEDIA"},
                          headers={"Cookie": f"__Secure-next-auth.session-token={flow.st}"}, allow_redirects=False)
    assert resp.status == 404
    resp = await flow.api("GET", f"/v1/media/{name}")
    assert resp.status == 400 and (await resp.json())["error"]["status"] == "FAILED_PRECONDITION"


async def test_image_to_video_operations(flow: FlowClient, project: str) -> None:
    first, last = await flow.upload(project), await flow.upload(project)
    answer = await flow.submit_video(project, "batchAsyncGenerateVideoStartImage", key="veo_3_1_i2v_s_fast",
                                     extra={"startImage": {"mediaId": first}})
    assert answer["media"]
    await flow.submit_video(project, "batchAsyncGenerateVideoStartAndEndImage", key="veo_3_1_i2v_s_fast_fl",
                            extra={"startImage": {"mediaId": first}, "endImage": {"mediaId": last}})
    refs = [{"imageUsageType": "IMAGE_USAGE_TYPE_ASSET", "mediaId": m} for m in (first, last)]
    await flow.submit_video(project, "batchAsyncGenerateVideoReferenceImages", key="veo_3_1_r2v_fast_landscape",
                            extra={"referenceImages": refs})
    await flow.submit_video(project, "batchAsyncGenerateVideoText", key="veo_3_1_r2v_fast_landscape")  # 0 refs


@pytest.mark.parametrize(("operation", "key", "extra", "field"), [
    ("batchAsyncGenerateVideoStartImage", "veo_3_1_i2v_s_fast_fl", "start", "requests[0].videoModelKey"),
    ("batchAsyncGenerateVideoText", "veo_9_turbo", None, "requests[0].videoModelKey"),
    ("batchAsyncGenerateVideoText", "veo_2_0_t2v", None, "requests[0].videoModelKey"),
    ("batchAsyncGenerateVideoText", "veo_3_1_t2v_fast", "start", "requests[0].startImage"),
    ("batchAsyncGenerateVideoStartAndEndImage", "veo_3_1_i2v_s_fast_fl", "start", "requests[0].endImage"),
    ("batchAsyncGenerateVideoReferenceImages", "veo_3_1_r2v_fast_landscape", "four_refs", "requests[0].referenceImages"),
    ("batchAsyncGenerateVideoStartImage", "veo_3_1_i2v_s_fast", "missing_media", "requests[0].startImage.mediaId"),
])
async def test_submit_validation(flow: FlowClient, project: str, operation: str, key: str, extra: str | None,
                                 field: str) -> None:
    media_id = await flow.upload(project)
    extras = {
        None: {},
        "start": {"startImage": {"mediaId": media_id}},
        "four_refs": {"referenceImages": [{"imageUsageType": "IMAGE_USAGE_TYPE_ASSET", "mediaId": media_id}] * 4},
        "missing_media": {"startImage": {"mediaId": "CAMaJmissing"}},
    }[extra]
    token, ua = await flow.solve(project, "VIDEO_GENERATION")
    resp = await flow.api("POST", f"/v1/video:{operation}",
                          video_body(project, token, flow.tier, key=key, extra=extras), ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field=field)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b["requests"][0].update(aspectRatio="VIDEO_ASPECT_RATIO_SQUARE"), "requests[0].aspectRatio"),
    (lambda b: b["requests"][0].update(seed=100_000), "requests[0].seed"),
    (lambda b: b["requests"][0].pop("metadata"), "requests[0].metadata"),
    (lambda b: b["requests"][0].update(textInput={"prompt": "old"}), "requests[0].textInput.prompt"),
    (lambda b: b.pop("useV2ModelConfig"), "useV2ModelConfig"),
    (lambda b: b["mediaGenerationContext"].pop("audioFailurePreference"), "mediaGenerationContext.audioFailurePreference"),
    (lambda b: b["clientContext"].pop("userPaygateTier"), "clientContext.userPaygateTier"),
    (lambda b: b["clientContext"].update(userPaygateTier="PAYGATE_TIER_TWO"), "clientContext.userPaygateTier"),
    (lambda b: b["clientContext"].update(userPaygateTier="PAYGATE_TIER_THREE"), "clientContext.userPaygateTier"),
])
async def test_envelope_validation(flow: FlowClient, project: str, mutate: Any, field: str) -> None:
    token, ua = await flow.solve(project, "VIDEO_GENERATION")
    body = video_body(project, token, flow.tier)
    mutate(body)
    resp = await flow.api("POST", "/v1/video:batchAsyncGenerateVideoText", body, ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field=field)


async def test_ultra_key_needs_tier_two(flow: FlowClient, project: str, http: Any, emulator: FlowEmulator) -> None:
    token, ua = await flow.solve(project, "VIDEO_GENERATION")
    resp = await flow.api("POST", "/v1/video:batchAsyncGenerateVideoText",
                          video_body(project, token, flow.tier, key="veo_3_1_t2v_fast_ultra"), ua=ua)
    assert_google_error(await resp.json(), 403, "PERMISSION_DENIED", reason="PUBLIC_ERROR_MODEL_ACCESS_DENIED")
    ultra = FlowClient(http, emulator, emulator.add_account("ultra@example.com", tier="PAYGATE_TIER_TWO").st)
    await ultra.login()
    assert ultra.tier == "PAYGATE_TIER_TWO"
    await ultra.submit_video(await ultra.project(), key="veo_3_1_t2v_fast_ultra")


async def test_upsample_and_extend_need_video_uuid(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    name, video_id = await flow.finished_video(project)
    upsample = {"resolution": "VIDEO_RESOLUTION_1080P", "videoInput": {"mediaId": video_id},
                "metadata": {"sceneId": str(uuid.uuid4())}}
    answer = await flow.submit_video(project, "batchAsyncGenerateVideoUpsampleVideo",
                                     key="veo_3_1_upsampler_1080p", extra=upsample)
    upsampled = emulator.world.videos[answer["media"][0]["name"]]
    assert upsampled.source_video_id == video_id and upsampled.resolution == "VIDEO_RESOLUTION_1080P"
    extend = {"videoInput": {"mediaId": video_id}, "metadata": {"workflowId": str(uuid.uuid4())}}
    await flow.submit_video(project, "batchAsyncGenerateVideoExtendVideo", key="veo_3_1_extend_landscape",
                            extra=extend)

    cases = [
        ("UpsampleVideo", "veo_3_1_upsampler_1080p", dict(upsample, videoInput={"mediaId": name}),
         "requests[0].videoInput.mediaId", 400),
        ("UpsampleVideo", "veo_3_1_upsampler_1080p", dict(upsample, videoInput={"mediaId": str(uuid.uuid4())}),
         "requests[0].videoInput.mediaId", 404),
        ("UpsampleVideo", "veo_3_1_upsampler_4k", upsample, "requests[0].resolution", 400),
        ("UpsampleVideo", "veo_3_1_upsampler_1080p", dict(upsample, metadata={}), "requests[0].metadata.sceneId", 400),
        ("ExtendVideo", "veo_3_1_extend_portrait", extend, "requests[0].videoModelKey", 400),
    ]
    for kind, key, extra, field, status in cases:
        token, ua = await flow.solve(project, "VIDEO_GENERATION")
        resp = await flow.api("POST", f"/v1/video:batchAsyncGenerateVideo{kind}",
                              video_body(project, token, flow.tier, key=key, extra=extra), ua=ua)
        body = await resp.json()
        assert resp.status == status, (kind, field, body)
        if status == 400:
            assert_google_error(body, 400, "INVALID_ARGUMENT", field=field)
        else:
            assert field in body["error"]["message"]


async def test_concatenation(flow: FlowClient, project: str, http: Any, emulator: FlowEmulator) -> None:
    _, source = await flow.finished_video(project)
    _, extension = await flow.finished_video(project)
    body = {"inputVideos": [
        {"mediaGenerationId": source, "lengthNanos": 8000, "startTimeOffset": "0s", "endTimeOffset": "8s"},
        {"mediaGenerationId": extension, "lengthNanos": 8000, "startTimeOffset": "1s", "endTimeOffset": "8s"}]}
    resp = await flow.api("POST", "/v1:runVideoFxConcatenation", body, headers={"User-Agent": "anything"})
    op = await resp.json()
    assert resp.status == 200 and op["operation"]["operation"]["name"]
    statuses = []
    for _ in range(emulator.settings.video_polls_to_finish):
        result = await (await flow.api("POST", "/v1:runVideoFxCheckConcatenationStatus", op)).json()
        statuses.append(result["status"])
    assert statuses[-1] == SUCCESSFUL and all(s != SUCCESSFUL for s in statuses[:-1])
    assert base64.b64decode(result["encodedVideo"])[4:8] == b"ftyp"
    resp = await http.session.get(result["outputUri"])
    assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"

    body["inputVideos"][1]["mediaGenerationId"] = "CAUSJnotauuid"
    resp = await flow.api("POST", "/v1:runVideoFxConcatenation", body)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="inputVideos[1].mediaGenerationId")
    body["inputVideos"][1].update(mediaGenerationId=extension, startTimeOffset="9s")
    resp = await flow.api("POST", "/v1:runVideoFxConcatenation", body)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="inputVideos[1].endTimeOffset")
