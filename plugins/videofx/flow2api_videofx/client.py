"""The Flow (VideoFX) HTTP client: one method per spec operation, HEAD shapes (spec §2).

Every method raises only :mod:`flow2api.errors` types: non-2xx replies go
through :func:`~flow2api_videofx.wire.classify`, transport failures are mapped
here (``raise … from exc``), and a 2xx reply missing a field the spec
promises raises ``UpstreamProtocolError`` naming the operation and field.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import uuid
from datetime import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import aiohttp
from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

from flow2api.errors import (
    CredentialRejectedError,
    ProxyConnectError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api.plugin import InputImage
from flow2api_videofx.config import FlowConfig
from flow2api_videofx.wire import (
    RECAPTCHA_APPLICATION_TYPE,
    SESSION_COOKIE,
    TOOL,
    browser_headers,
    classify,
    session_id,
)

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The NextAuth session (spec §1.3): AT, its expiry (Unix s or None), e-mail and display name."""

    access_token: str
    expires_at: float | None
    email: str
    name: str

    def __repr__(self) -> str:
        return f"SessionInfo(email={self.email!r}, expires_at={self.expires_at!r})"

@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One ``batchGenerateImages`` result: upstream media ``name`` and its signed ``fife_url`` (spec §2.6)."""

    name: str
    fife_url: str

@dataclass(frozen=True, slots=True)
class VideoHandle:
    """What a video submit returns per item: the media name and project to poll with (spec §2.8)."""

    name: str
    project_id: str

def _field(data: Any, path: str, operation: str) -> Any:
    """``data[a][b]…`` for ``path`` "a.b…"; ``UpstreamProtocolError`` naming the field when absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise UpstreamProtocolError(f"Flow {operation} reply has no '{path}' (upstream changed?)")
    return current

def recaptcha_context(token: str) -> dict[str, str]:
    """``clientContext.recaptchaContext`` (spec §1.6, HEAD)."""
    return {"token": token, "applicationType": RECAPTCHA_APPLICATION_TYPE}

class FlowClient:
    """Calls to one account's Flow endpoints through ``http`` (already routed via the right proxy).

    ``st`` authenticates labs (tRPC) calls, ``at`` the API calls;
    ``user_agent`` must be the one the reCAPTCHA token was solved with (spec §1.6).
    """

    def __init__(
        self, http: aiohttp.ClientSession, config: FlowConfig, *, st: str | None = None, at: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.http = http
        self.config = config
        self._st = st
        self._at = at
        self.user_agent = user_agent or config.user_agent

    def page_url(self, project_id: str) -> str:
        """The project page (Referer, reCAPTCHA ``websiteURL``), spec §1.1."""
        return f"{self.config.page_base_url}{project_id}"

    async def _call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        body: Any = None,
        auth: str,
        timeout: float,
        referer: str | None = None,
        allow_redirects: bool = True,
    ) -> tuple[int, Mapping[str, str], Any]:
        headers = browser_headers(self.user_agent, referer=referer or "https://labs.google/")
        if auth == "at":
            if not self._at:
                raise CredentialRejectedError("the account has no access token")
            headers["authorization"] = f"Bearer {self._at}"
        elif auth == "st":
            if not self._st:
                raise CredentialRejectedError("the account has no session token")
            headers["Cookie"] = f"{SESSION_COOKIE}={self._st}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        try:
            async with self.http.request(
                method, url, data=data, headers=headers, allow_redirects=allow_redirects,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except (ProxyConnectionError, ProxyTimeoutError, ProxyError, aiohttp.ClientProxyConnectionError) as exc:
            raise ProxyConnectError(f"the proxy for Flow {operation} could not be used: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            raise UpstreamTimeoutError(f"Flow {operation} did not answer within {timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(f"Flow {operation} could not be reached: {type(exc).__name__}") from exc
        try:
            parsed = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        if status >= 400:
            raise classify(status, parsed, operation=operation, retry_after=resp_headers.get("Retry-After"))
        if 300 <= status < 400:
            return status, resp_headers, parsed
        if parsed is None and method != "GET":
            raise UpstreamProtocolError(f"Flow {operation} answered with a body that is not JSON (upstream changed?)")
        return status, resp_headers, parsed

    # -- labs: session and control plane (spec §2.1, §2.3, §2.16) -------------------------------------------

    async def auth_session(self) -> SessionInfo:
        """ST → AT (spec §2.1). ``CredentialRejectedError`` when the session has no ``access_token`` (dead ST)."""
        _, _, body = await self._call(
            "auth/session", "GET", f"{self.config.labs_base_url}/auth/session", auth="st",
            timeout=self.config.control_timeout,
        )
        if not isinstance(body, dict) or not body.get("access_token"):
            raise CredentialRejectedError("the Flow session token is expired or revoked (session has no access token)")

        expires_at = None
        if isinstance(body.get("expires"), str):
            try:
                expires_at = datetime.fromisoformat(body["expires"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                expires_at = None
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        email = user.get("email")
        if not email:
            raise UpstreamProtocolError("Flow auth/session reply has no 'user.email' (upstream changed?)")
        return SessionInfo(body["access_token"], expires_at, email, user.get("name") or "")

    async def create_project(self, title: str) -> str:
        """``project.createProject`` (spec §2.3) → the new project id."""
        _, _, body = await self._call(
            "project.createProject", "POST", f"{self.config.labs_base_url}/trpc/project.createProject",
            body={"json": {"projectTitle": title, "toolName": TOOL}}, auth="st", timeout=15,
        )
        return str(_field(body, "result.data.json.result.projectId", "project.createProject"))

    async def media_url(self, name: str) -> str:
        """``media.getMediaUrlRedirect`` (spec §2.16) → the signed CDN URL from ``Location`` (redirect not followed)."""
        url = (f"{self.config.labs_base_url}/trpc/media.getMediaUrlRedirect?name={quote(name, safe='')}"
               "&mediaUrlType=MEDIA_URL_TYPE_FULL_MEDIA")
        status, headers, _ = await self._call(
            "media.getMediaUrlRedirect", "GET", url, auth="st", timeout=self.config.control_timeout,
            allow_redirects=False,
        )
        location = headers.get("Location")
        if not (300 <= status < 400) or not location:
            raise UpstreamProtocolError("Flow media.getMediaUrlRedirect gave no redirect Location (upstream changed?)")
        return urljoin(url, location)

    # -- API: account (spec §2.2) ---------------------------------------------------------------------------

    async def credits(self) -> tuple[int | None, str]:
        """``GET {api}/credits`` (spec §2.2) → (credits, tier); a missing tier counts as ``PAYGATE_TIER_NOT_PAID``."""
        _, _, body = await self._call(
            "credits", "GET", f"{self.config.api_base_url}/credits", auth="at", timeout=self.config.control_timeout,
        )
        body = body if isinstance(body, dict) else {}
        credits = body.get("credits")
        return (int(credits) if isinstance(credits, (int, float)) else None,
                str(body.get("userPaygateTier") or "PAYGATE_TIER_NOT_PAID"))

    # -- API: images (spec §2.5–2.7) ------------------------------------------------------------------------

    async def upload_image(self, project_id: str, image: InputImage) -> str:
        """``POST {api}/flow/uploadImage`` (spec §2.5, HEAD primary) → the media id for generation requests."""
        ext = "png" if image.mime_type == "image/png" else "jpg"
        sid = session_id()
        body = {
            "clientContext": {"sessionId": sid, "tool": TOOL, "projectId": project_id},
            "fileName": f"flow2api_upload_{sid[1:]}.{ext}",
            "imageBytes": base64.b64encode(image.data).decode(),
            "isHidden": False,
            "isUserUploaded": True,
            "mimeType": image.mime_type,
        }
        _, _, reply = await self._call(
            "flow/uploadImage", "POST", f"{self.config.api_base_url}/flow/uploadImage", body=body, auth="at",
            timeout=self.config.timeout, referer=self.page_url(project_id),
        )
        media = _field(reply, "media", "flow/uploadImage")
        if isinstance(media, list):
            media = media[0] if media else {}
        return str(_field(media, "name", "flow/uploadImage"))

    async def generate_images(
        self,
        project_id: str,
        *,
        token: str,
        image_model: str,
        aspect_ratio: str,
        prompt: str,
        media_ids: list[str],
        count: int,
        sid: str,
    ) -> list[GeneratedImage]:
        """``batchGenerateImages`` (spec §2.6, HEAD body): ``count`` request items, one result each."""
        context = {"recaptchaContext": recaptcha_context(token), "sessionId": sid, "projectId": project_id, "tool": TOOL}
        requests = [
            {
                "clientContext": context,
                "seed": random.randint(1, 999_999),
                "imageModelName": image_model,
                "imageAspectRatio": aspect_ratio,
                "structuredPrompt": {"parts": [{"text": prompt}]},
                "imageInputs": [{"name": m, "imageInputType": "IMAGE_INPUT_TYPE_REFERENCE"} for m in media_ids],
            }
            for _ in range(count)
        ]
        body = {
            "clientContext": context,
            "mediaGenerationContext": {"batchId": str(uuid.uuid4())},
            "useNewMedia": True,
            "requests": requests,
        }
        op = "batchGenerateImages"
        _, _, reply = await self._call(
            op, "POST", f"{self.config.api_base_url}/projects/{project_id}/flowMedia:batchGenerateImages",
            body=body, auth="at", timeout=self.config.image_request_timeout,
        )
        media = _field(reply, "media", op)
        if not isinstance(media, list) or not media:
            raise UpstreamProtocolError(f"Flow {op} returned no media (generation result empty)")
        return [
            GeneratedImage(str(_field(m, "name", op)), str(_field(m, "image.generatedImage.fifeUrl", op)))
            for m in media
        ]

    async def upsample_image(
        self, project_id: str, *, token: str, media_id: str, target: str, sid: str, tier: str,
    ) -> bytes:
        """``flow/upsampleImage`` (spec §2.7) with the generation's ``sid`` → the 2K/4K image bytes (JPEG)."""
        body = {
            "mediaId": media_id,
            "targetResolution": target,
            "clientContext": {
                "recaptchaContext": recaptcha_context(token), "sessionId": sid, "projectId": project_id,
                "tool": TOOL, "userPaygateTier": tier,
            },
        }
        op = "flow/upsampleImage"
        _, _, reply = await self._call(
            op, "POST", f"{self.config.api_base_url}/flow/upsampleImage", body=body, auth="at",
            timeout=self.config.image_upsample_timeout,
        )
        encoded = _field(reply, "encodedImage", op)
        try:
            return base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError) as exc:
            raise UpstreamProtocolError(f"Flow {op} 'encodedImage' is not base64") from exc
