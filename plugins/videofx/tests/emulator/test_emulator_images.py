"""Images: uploads (spec §2.5), batchGenerateImages (§2.6), upsampleImage (§2.7), the image CDN."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from emulator_helpers import FlowClient, assert_google_error, fetch, image_body, jpeg_bytes, png_bytes, session_id
from PIL import Image

from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def gen_path(project: str) -> str:
    return f"/v1/projects/{project}/flowMedia:batchGenerateImages"


@pytest.mark.parametrize(("aspect", "size"), [
    ("IMAGE_ASPECT_RATIO_LANDSCAPE", (256, 144)),
    ("IMAGE_ASPECT_RATIO_PORTRAIT", (144, 256)),
    ("IMAGE_ASPECT_RATIO_SQUARE", (256, 256)),
    ("IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE", (256, 192)),
    ("IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR", (192, 256)),
])
async def test_generate_image_png_of_the_aspect_ratio(flow: FlowClient, http: Any, project: str, aspect: str,
                                                      size: tuple[int, int]) -> None:
    _, answer = await flow.generate_image(project, aspect=aspect)
    item = answer["media"][0]
    assert item["name"] and item["projectId"] == project
    url = item["image"]["generatedImage"]["fifeUrl"]
    assert "/cdn/image/" in url and "sig=" in url and "expires=" in url
    resp = await fetch(http, url)  # no auth header: self-authorising
    data = await resp.read()
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/png"
    assert int(resp.headers["Content-Length"]) == len(data)
    assert data.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(data)).size == size


async def test_different_prompts_give_different_images(flow: FlowClient, http: Any, project: str) -> None:
    urls = []
    for prompt in ("a lighthouse", "a bowl of ramen"):
        _, answer = await flow.generate_image(project, prompt=prompt)
        urls.append(answer["media"][0]["image"]["generatedImage"]["fifeUrl"])
    images = [await (await fetch(http, u)).read() for u in urls]
    assert images[0] != images[1]


async def test_one_media_per_request_and_credits(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    _, answer = await flow.generate_image(project, count=3)
    assert len(answer["media"]) == 3 and len({m["name"] for m in answer["media"]}) == 3
    assert emulator.accounts["alice@example.com"].credits == 1000 - 3
    assert len(emulator.calls("batchGenerateImages")) == 1


async def test_image_to_image_with_uploads(flow: FlowClient, http: Any, project: str) -> None:
    red = await flow.upload(project, png_bytes((255, 0, 0)))
    blue = await flow.upload(project, jpeg_bytes((0, 0, 255)), mime="image/jpeg")
    _, plain = await flow.generate_image(project, prompt="same", seed=7)
    _, tinted = await flow.generate_image(project, prompt="same", seed=7, inputs=[red, blue])
    plain_bytes = await (await fetch(http, plain["media"][0]["image"]["generatedImage"]["fifeUrl"])).read()
    tinted_bytes = await (await fetch(http, tinted["media"][0]["image"]["generatedImage"]["fifeUrl"])).read()
    assert plain_bytes != tinted_bytes


async def test_legacy_upload(flow: FlowClient, project: str) -> None:
    body = {"imageInput": {"rawImageBytes": base64.b64encode(jpeg_bytes()).decode(), "mimeType": "image/jpeg",
                           "isUserUploaded": True, "aspectRatio": "IMAGE_ASPECT_RATIO_LANDSCAPE"},
            "clientContext": {"sessionId": session_id(), "tool": "ASSET_MANAGER"}}
    resp = await flow.api("POST", "/v1:uploadUserImage", body)
    answer = await resp.json()
    media_id = answer["mediaGenerationId"]["mediaGenerationId"]
    assert media_id.startswith("CAM") and answer["width"] == 40
    await flow.generate_image(project, inputs=[media_id])  # legacy media has no project: usable anywhere
    body["imageInput"]["aspectRatio"] = "VIDEO_ASPECT_RATIO_LANDSCAPE"
    resp = await flow.api("POST", "/v1:uploadUserImage", body)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="imageInput.aspectRatio")


async def test_upload_list_form(flow: FlowClient, project: str, emulator: FlowEmulator) -> None:
    emulator.settings.upload_response_form = "list"
    body = {"clientContext": {"sessionId": session_id(), "tool": "PINHOLE", "projectId": project},
            "fileName": "a.png", "imageBytes": base64.b64encode(png_bytes()).decode(), "mimeType": "image/png"}
    answer = await (await flow.api("POST", "/v1/flow/uploadImage", body)).json()
    assert answer["media"][0]["projectId"] == project


@pytest.mark.parametrize(("change", "field"), [
    ({"imageBytes": "data:image/png;base64,AAAA"}, "imageBytes"),
    ({"imageBytes": base64.b64encode(b"hello world, not an image").decode()}, "imageBytes"),
    ({"mimeType": "image/jpeg"}, "mimeType"),
    ({"mimeType": "image/tiff"}, "mimeType"),
    ({"imageBytes": base64.b64encode(PNG_SIGNATURE + b"truncated").decode()}, "imageBytes"),
    ({"fileName": None}, "fileName"),
])
async def test_upload_validation(flow: FlowClient, project: str, change: dict[str, Any], field: str) -> None:
    body = {"clientContext": {"sessionId": session_id(), "tool": "PINHOLE", "projectId": project},
            "fileName": "a.png", "imageBytes": base64.b64encode(png_bytes()).decode(), "mimeType": "image/png"}
    body.update(change)
    resp = await flow.api("POST", "/v1/flow/uploadImage", body)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field=field)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b["requests"][0].update(imageModelName="GEM_PIX"), "requests[0].imageModelName"),
    (lambda b: b["requests"][0].update(imageAspectRatio="IMAGE_ASPECT_RATIO_WIDE"), "requests[0].imageAspectRatio"),
    (lambda b: b["requests"][0].pop("seed"), "requests[0].seed"),
    (lambda b: b["requests"][0].update(seed=1_000_000), "requests[0].seed"),
    (lambda b: b["requests"][0].update(seed="12"), "requests[0].seed"),
    (lambda b: b["requests"][0].pop("structuredPrompt"), "requests[0].structuredPrompt"),
    (lambda b: b["requests"][0].update(prompt="old style"), "requests[0].prompt"),
    (lambda b: b["requests"][0].update(structuredPrompt={"parts": []}), "requests[0].structuredPrompt.parts"),
    (lambda b: b["requests"][0].pop("imageInputs"), "requests[0].imageInputs"),
    (lambda b: b["requests"][0].update(imageInputs=[{"name": "CAMaJnope", "imageInputType": "IMAGE_INPUT_TYPE_REFERENCE"}]),
     "requests[0].imageInputs[0].name"),
    (lambda b: b.update(useNewMedia=False), "useNewMedia"),
    (lambda b: b.pop("mediaGenerationContext"), "mediaGenerationContext"),
    (lambda b: b["mediaGenerationContext"].update(batchId="not-a-uuid"), "mediaGenerationContext.batchId"),
    (lambda b: b["clientContext"].update(sessionId="1766049528123"), "clientContext.sessionId"),
    (lambda b: b["clientContext"].update(tool="ASSET_MANAGER"), "clientContext.tool"),
    (lambda b: b.update(requests=[]), "requests"),
    (lambda b: b["requests"][0].update(clientContext=dict(b["clientContext"], sessionId=";1111111111111")),
     "requests[0].clientContext.sessionId"),
])
async def test_generate_validation(flow: FlowClient, project: str, mutate: Any, field: str) -> None:
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    body = image_body(project, token)
    body["requests"][0]["clientContext"] = dict(body["clientContext"])
    mutate(body)
    resp = await flow.api("POST", gen_path(project), body, ua=ua)
    assert resp.status == 400
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field=field)
    # a 400 does not consume the token
    assert (await flow.api("POST", gen_path(project), image_body(project, token), ua=ua)).status == 200


async def test_project_ownership(flow: FlowClient, http: Any, emulator: FlowEmulator, project: str) -> None:
    other = FlowClient(http, emulator, emulator.add_account("eve@example.com").st)
    await other.login()
    token, ua = await other.solve(project, "IMAGE_GENERATION")
    resp = await other.api("POST", gen_path(project), image_body(project, token), ua=ua)
    assert_google_error(await resp.json(), 403, "PERMISSION_DENIED")
    ghost = "00000000-0000-4000-8000-000000000000"
    resp = await flow.api("POST", gen_path(ghost), image_body(ghost, "t"))
    assert_google_error(await resp.json(), 404, "NOT_FOUND")
    resp = await flow.api("POST", gen_path(project), image_body(ghost, "t"))
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="clientContext.projectId")


async def test_upload_from_other_project_is_rejected(flow: FlowClient, project: str) -> None:
    other = await flow.project("P2")
    media_id = await flow.upload(other)
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    resp = await flow.api("POST", gen_path(project), image_body(project, token, inputs=[media_id]), ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="requests[0].imageInputs[0].name")


@pytest.mark.parametrize(("target", "long_edge"), [("UPSAMPLE_IMAGE_RESOLUTION_2K", 512),
                                                   ("UPSAMPLE_IMAGE_RESOLUTION_4K", 1024)])
async def test_upsample_image(flow: FlowClient, project: str, target: str, long_edge: int) -> None:
    body, answer = await flow.generate_image(project, aspect="IMAGE_ASPECT_RATIO_PORTRAIT")
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    request = {"mediaId": answer["media"][0]["name"], "targetResolution": target,
               "clientContext": {"recaptchaContext": {"token": token,
                                                      "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"},
                                 "sessionId": body["clientContext"]["sessionId"], "projectId": project,
                                 "tool": "PINHOLE", "userPaygateTier": "PAYGATE_TIER_ONE"}}
    resp = await flow.api("POST", "/v1/flow/upsampleImage", request, ua=ua)
    assert resp.status == 200, await resp.text()
    data = base64.b64decode((await resp.json())["encodedImage"])
    assert data.startswith(b"\xff\xd8\xff")
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size[1] == long_edge and image.size[0] < image.size[1]


async def test_upsample_needs_same_session_and_generated_media(flow: FlowClient, project: str) -> None:
    body, answer = await flow.generate_image(project)
    token, ua = await flow.solve(project, "IMAGE_GENERATION")
    request = {"mediaId": answer["media"][0]["name"], "targetResolution": "UPSAMPLE_IMAGE_RESOLUTION_2K",
               "clientContext": {"recaptchaContext": {"token": token,
                                                      "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"},
                                 "sessionId": ";1000000000000", "projectId": project, "tool": "PINHOLE",
                                 "userPaygateTier": "PAYGATE_TIER_ONE"}}
    resp = await flow.api("POST", "/v1/flow/upsampleImage", request, ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="clientContext.sessionId")
    request["clientContext"]["sessionId"] = body["clientContext"]["sessionId"]
    request["mediaId"] = await flow.upload(project)
    resp = await flow.api("POST", "/v1/flow/upsampleImage", request, ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="mediaId")
    request["mediaId"] = answer["media"][0]["name"]
    request["clientContext"]["userPaygateTier"] = "PAYGATE_TIER_TWO"
    resp = await flow.api("POST", "/v1/flow/upsampleImage", request, ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="clientContext.userPaygateTier")
    request["clientContext"]["userPaygateTier"] = "PAYGATE_TIER_ONE"
    request["targetResolution"] = "UPSAMPLE_IMAGE_RESOLUTION_8K"
    resp = await flow.api("POST", "/v1/flow/upsampleImage", request, ua=ua)
    assert_google_error(await resp.json(), 400, "INVALID_ARGUMENT", field="targetResolution")


async def test_out_of_credits_is_429(http: Any, emulator: FlowEmulator) -> None:
    account = emulator.add_account("poor@example.com", credits=0)
    client = FlowClient(http, emulator, account.st)
    await client.login()
    project = await client.project()
    token, ua = await client.solve(project, "IMAGE_GENERATION")
    resp = await client.api("POST", gen_path(project), image_body(project, token), ua=ua)
    assert_google_error(await resp.json(), 429, "RESOURCE_EXHAUSTED", reason="PUBLIC_ERROR_USER_QUOTA_REACHED")


def test_settings_forbid_unknown_fields() -> None:
    with pytest.raises(ValueError):
        EmulatorSettings(imag_size=3)  # type: ignore[call-arg]
