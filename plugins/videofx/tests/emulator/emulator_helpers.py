"""Helpers for the Flow emulator tests: a fake clock, HEAD-shaped body builders and `FlowClient`,
a minimal spec-following client (spec §1-§2)."""

from __future__ import annotations

import base64
import io
import time
import uuid
from typing import Any

from PIL import Image

from flow2api_videofx.emulator import RECAPTCHA_SITE_KEY, FlowEmulator

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36"
ST_COOKIE = "__Secure-next-auth.session-token"


class FakeClock:
    """Unix seconds that only move when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def session_id() -> str:
    return f";{int(time.time() * 1000)}"


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 36)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(color: tuple[int, int, int] = (30, 30, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), color).save(buffer, "JPEG")
    return buffer.getvalue()


def cc(project_id: str, token: str | None, *, sid: str | None = None, tier: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"sessionId": sid or session_id(), "projectId": project_id, "tool": "PINHOLE"}
    if token is not None:
        context["recaptchaContext"] = {"token": token, "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"}
    if tier is not None:
        context["userPaygateTier"] = tier
    return context


def image_body(project_id: str, token: str | None, *, prompt: str = "a red fox in snow", seed: int = 123456,
               model: str = "NARWHAL", aspect: str = "IMAGE_ASPECT_RATIO_LANDSCAPE",
               inputs: list[str] | None = None, sid: str | None = None, count: int = 1) -> dict[str, Any]:
    """spec §2.6 HEAD body; the same clientContext object at the top and in each request."""
    context = cc(project_id, token, sid=sid)
    return {
        "clientContext": context,
        "mediaGenerationContext": {"batchId": str(uuid.uuid4())},
        "useNewMedia": True,
        "requests": [{
            "clientContext": context, "seed": seed + i, "imageModelName": model, "imageAspectRatio": aspect,
            "structuredPrompt": {"parts": [{"text": prompt}]},
            "imageInputs": [{"name": n, "imageInputType": "IMAGE_INPUT_TYPE_REFERENCE"} for n in inputs or []],
        } for i in range(count)],
    }


def video_body(project_id: str, token: str | None, tier: str, *, key: str = "veo_3_1_t2v_fast",
               aspect: str = "VIDEO_ASPECT_RATIO_LANDSCAPE", prompt: str = "a drone shot of a coastline",
               extra: dict[str, Any] | None = None, count: int = 1) -> dict[str, Any]:
    """spec §2.8 HEAD envelope with REQ base (+ ``extra`` per-operation fields)."""
    request: dict[str, Any] = {"aspectRatio": aspect, "seed": 4242,
                               "textInput": {"structuredPrompt": {"parts": [{"text": prompt}]}},
                               "videoModelKey": key, "metadata": {}}
    request.update(extra or {})
    return {
        "mediaGenerationContext": {"batchId": str(uuid.uuid4()), "audioFailurePreference": "BLOCK_SILENCED_VIDEOS"},
        "clientContext": cc(project_id, token, tier=tier),
        "requests": [dict(request, seed=4242 + i) for i in range(count)],
        "useV2ModelConfig": True,
    }


class FlowClient:
    """Talks to the emulator like a correct client: ST→AT, project, solver, Bearer + UA headers."""

    def __init__(self, http: Any, emulator: FlowEmulator, st: str) -> None:
        self.http, self.emulator, self.st = http, emulator, st
        self.at: str | None = None
        self.tier = "PAYGATE_TIER_ONE"

    async def login(self) -> str:
        resp = await self.http.get("/fx/api/auth/session", headers={"Cookie": f"{ST_COOKIE}={self.st}"})
        assert resp.status == 200
        self.at = (await resp.json())["access_token"]
        resp = await self.api("GET", "/v1/credits")
        self.tier = (await resp.json())["userPaygateTier"]
        return self.at

    async def trpc_post(self, procedure: str, payload: Any) -> Any:
        return await self.http.post(f"/fx/api/trpc/{procedure}", json={"json": payload},
                                    headers={"Cookie": f"{ST_COOKIE}={self.st}"})

    async def project(self, title: str = "Test P1") -> str:
        resp = await self.trpc_post("project.createProject", {"projectTitle": title, "toolName": "PINHOLE"})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["result"]["data"]["json"]["result"]["projectId"]

    async def solve(self, project_id: str, action: str, ua: str | None = UA) -> tuple[str, str]:
        task: dict[str, Any] = {"type": "RecaptchaV3TaskProxylessM1S9", "websiteKey": RECAPTCHA_SITE_KEY,
                                "websiteURL": f"https://labs.google/fx/tools/flow/project/{project_id}",
                                "pageAction": action}
        if ua is not None:
            task["userAgent"] = ua
        key = self.emulator.settings.solver_client_key
        resp = await self.http.post("/solver/createTask", json={"clientKey": key, "task": task})
        created = await resp.json()
        assert created["errorId"] == 0, created
        for _ in range(10):
            resp = await self.http.post("/solver/getTaskResult", json={"clientKey": key, "taskId": created["taskId"]})
            result = await resp.json()
            if result["status"] == "ready":
                return result["solution"]["gRecaptchaResponse"], result["solution"]["userAgent"]
        raise AssertionError("solver never became ready")

    async def api(self, method: str, path: str, body: Any = None, *, ua: str = UA,
                  headers: dict[str, str] | None = None) -> Any:
        all_headers = {"authorization": f"Bearer {self.at}", "User-Agent": ua, "Origin": "https://labs.google"}
        all_headers.update(headers or {})
        return await self.http.request(method, path, json=body, headers=all_headers)

    async def upload(self, project_id: str, data: bytes | None = None, mime: str = "image/png") -> str:
        body = {"clientContext": {"sessionId": session_id(), "tool": "PINHOLE", "projectId": project_id},
                "fileName": "flow2api_upload_1.png", "imageBytes": base64.b64encode(data or png_bytes()).decode(),
                "isHidden": False, "isUserUploaded": True, "mimeType": mime}
        resp = await self.api("POST", "/v1/flow/uploadImage", body)
        assert resp.status == 200, await resp.text()
        return (await resp.json())["media"]["name"]

    async def generate_image(self, project_id: str, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Returns (request body, response JSON)."""
        token, ua = await self.solve(project_id, "IMAGE_GENERATION")
        body = image_body(project_id, token, **kwargs)
        resp = await self.api("POST", f"/v1/projects/{project_id}/flowMedia:batchGenerateImages", body, ua=ua)
        assert resp.status == 200, await resp.text()
        return body, await resp.json()

    async def submit_video(self, project_id: str, operation: str = "batchAsyncGenerateVideoText",
                           **kwargs: Any) -> dict[str, Any]:
        token, ua = await self.solve(project_id, "VIDEO_GENERATION")
        resp = await self.api("POST", f"/v1/video:{operation}", video_body(project_id, token, self.tier, **kwargs),
                              ua=ua)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def poll(self, names: list[str], project_id: str) -> list[dict[str, Any]]:
        resp = await self.api("POST", "/v1/video:batchCheckAsyncVideoGenerationStatus",
                              {"media": [{"name": n, "projectId": project_id} for n in names]})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["media"]

    async def finished_video(self, project_id: str, **kwargs: Any) -> tuple[str, str]:
        """Submit, poll to SUCCESSFUL, follow the redirect: (media name, video UUID)."""
        name = (await self.submit_video(project_id, **kwargs))["media"][0]["name"]
        for _ in range(self.emulator.settings.video_polls_to_finish):
            items = await self.poll([name], project_id)
        assert items[0]["mediaMetadata"]["mediaStatus"]["mediaGenerationStatus"] == \
            "MEDIA_GENERATION_STATUS_SUCCESSFUL"
        location = await self.redirect(name)
        return name, location.split("/cdn/video/")[1].split("?")[0]

    async def redirect(self, name: str) -> str:
        resp = await self.http.get("/fx/api/trpc/media.getMediaUrlRedirect",
                                   params={"name": name, "mediaUrlType": "MEDIA_URL_TYPE_FULL_MEDIA"},
                                   headers={"Cookie": f"{ST_COOKIE}={self.st}"}, allow_redirects=False)
        assert resp.status == 302, await resp.text()
        return resp.headers["Location"]


async def fetch(http: Any, url: str, **kwargs: Any) -> Any:
    """GET an absolute URL (a fifeUrl or redirect Location) without any auth header."""
    return await http.session.get(url, **kwargs)


def assert_google_error(body: dict[str, Any], code: int, status: str, *, reason: str | None = None,
                        field: str | None = None) -> None:
    """The §1.5 envelope: code/status, the first details[].reason, the field named in the message."""
    error = body["error"]
    assert error["code"] == code and error["status"] == status, body
    if reason is not None:
        assert error["details"][0]["reason"] == reason, body
    if field is not None:
        assert error["details"][0]["fieldViolations"][0]["field"] == field, body
        leaf = field.rsplit(".", 1)[-1]
        assert f"'{field}'" in error["message"] or f'"{leaf}"' in error["message"], body

