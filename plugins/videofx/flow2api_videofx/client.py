"""The Flow (VideoFX) HTTP client: one method per spec operation, HEAD shapes (spec §2).

:class:`FlowClient` = transport (:mod:`client_base`) + image calls
(:mod:`client_images`) + video calls (:mod:`client_videos`) + the labs control
plane and account calls defined here (ST→AT §2.1, credits §2.2, projects §2.3,
media redirect §2.16). Every method raises only :mod:`flow2api.errors` types.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urljoin, urlsplit

from flow2api.errors import CredentialRejectedError, UpstreamProtocolError
from flow2api_videofx.client_base import field, recaptcha_context
from flow2api_videofx.client_images import GeneratedImage, ImageCalls
from flow2api_videofx.client_videos import ConcatStatus, Submission, VideoCalls, VideoHandle
from flow2api_videofx.wire import TOOL

__all__ = [
    "ConcatStatus",
    "FlowClient",
    "GeneratedImage",
    "MediaLocation",
    "SessionInfo",
    "Submission",
    "VideoHandle",
    "recaptcha_context",
]

log = logging.getLogger(__name__)

_VIDEO_UUID = re.compile(r"/video/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[/?]|$)")


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
class MediaLocation:
    """Where a finished video lives (spec §2.16, §3.3): the signed CDN ``url`` and the video UUID from its path.

    ``video_id`` is ``None`` when the path has no ``/video/<uuid>``.
    """

    url: str
    video_id: str | None

    def __repr__(self) -> str:  # the URL is a signed capability
        return f"MediaLocation(video_id={self.video_id!r})"


def video_id_of(url: str) -> str | None:
    """The UUID of a CDN URL path ``…/video/<uuid>`` (spec §3.3), or ``None``."""
    match = _VIDEO_UUID.search(urlsplit(url).path + "/")
    return match.group(1).lower() if match else None


class FlowClient(ImageCalls, VideoCalls):
    """Calls to one account's Flow endpoints; see :class:`~flow2api_videofx.client_base.FlowTransport`."""

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
        return str(field(body, "result.data.json.result.projectId", "project.createProject"))

    async def media_url(self, name: str) -> MediaLocation:
        """``media.getMediaUrlRedirect`` (spec §2.16): the ``Location`` of the 3xx (not followed), made absolute.

        ``UpstreamProtocolError`` when the answer is not a redirect with a Location.
        """
        url = (f"{self.config.labs_base_url}/trpc/media.getMediaUrlRedirect?name={quote(name, safe='')}"
               "&mediaUrlType=MEDIA_URL_TYPE_FULL_MEDIA")
        status, headers, _ = await self._call(
            "media.getMediaUrlRedirect", "GET", url, auth="st", timeout=self.config.control_timeout,
            allow_redirects=False,
        )
        location = headers.get("Location")
        if not (300 <= status < 400) or not location:
            raise UpstreamProtocolError("Flow media.getMediaUrlRedirect gave no redirect 'Location' (upstream changed?)")
        absolute = urljoin(url, location)
        return MediaLocation(absolute, video_id_of(absolute))

    # -- API: account (spec §2.2) ---------------------------------------------------------------------------

    async def credits(self) -> tuple[int | None, str]:
        """``GET {api}/credits`` (spec §2.2) → (credits, tier); a missing tier counts as ``PAYGATE_TIER_NOT_PAID``."""
        _, _, body = await self._call(
            "credits", "GET", f"{self.config.api_base_url}/credits", auth="at", timeout=self.config.control_timeout,
        )
        body = body if isinstance(body, dict) else {}
        credits = body.get("credits")
        return (int(credits) if isinstance(credits, (int, float)) and not isinstance(credits, bool) else None,
                str(body.get("userPaygateTier") or "PAYGATE_TIER_NOT_PAID"))
