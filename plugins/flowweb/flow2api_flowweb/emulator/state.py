"""What the emulated flow.google.com remembers: accounts (cookies, XSRF), projects, media, reCAPTCHA tokens.

Media records follow spec §6.2: ``id0`` = media id, ``id2`` = workflow id, status 6 → 2 → 3
(or a failure), poster and MP4 URLs once done. Uploads and generated images are media of the
same table (``kind`` says which).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .settings import APP_COOKIES, FLOW_HOST, IDENTITY_SSO, SSO_COOKIES


def new_at(now: float) -> str:
    """An XSRF value shaped like ``SNlM0e``: ``<base64url>:<13-digit epoch ms>`` (spec §2.5)."""
    return f"{base64.urlsafe_b64encode(secrets.token_bytes(21)).decode().rstrip('=')}:{int(now * 1000)}"


@dataclass
class EmulatorAccount:
    """A signed-in Google account: its cookies, current XSRF value and session id, tier and credits.

    ``tier`` is the paygate enum of ``nzlxg[1]`` (1 ONE, 2 TWO, 3 NOT_PAID …, spec §3.6).
    """

    email: str
    name: str
    tier: int = 1
    service_tier: int = 2
    credits: int = 1000
    cookies: dict[str, str] = field(default_factory=dict)
    cookies_valid: bool = True
    at: str = ""
    at_issued: float = 0.0
    f_sid: str = ""

    def rotate_xsrf(self, now: float) -> str:
        """Issue a new ``at`` (the old one becomes stale)."""
        self.at, self.at_issued = new_at(now), now
        return self.at

    def cookies_txt(self) -> str:
        """The account's cookies as a Netscape cookies.txt, as a browser export has them (``.google.com`` + Flow host)."""
        lines = ["# Netscape HTTP Cookie File"]
        expires = int(time.time()) + 365 * 86400
        for name, value in self.cookies.items():
            if name in APP_COOKIES:
                lines.append(f"#HttpOnly_{FLOW_HOST}\tFALSE\t/\tTRUE\t{expires}\t{name}\t{value}")
            else:
                lines.append(f".google.com\tTRUE\t/\tTRUE\t{expires}\t{name}\t{value}")
        return "\n".join(lines) + "\n"

    def cookies_json(self) -> str:
        """The same cookies as a Cookie-Editor / EditThisCookie JSON export."""
        expires = time.time() + 365 * 86400
        items = [
            {"domain": FLOW_HOST if name in APP_COOKIES else ".google.com", "expirationDate": expires,
             "hostOnly": name in APP_COOKIES, "httpOnly": True, "name": name, "path": "/", "sameSite": "unspecified",
             "secure": True, "session": False, "storeId": "0", "value": value}
            for name, value in self.cookies.items()
        ]
        return json.dumps(items)


def new_cookie_set() -> dict[str, str]:
    """Fresh random values for every SSO and app-session cookie."""
    values = {name: secrets.token_urlsafe(48) for name in SSO_COOKIES}
    values.update({name: secrets.token_urlsafe(32) for name in APP_COOKIES})
    return values


@dataclass
class Project:
    """A Flow project of one account."""

    id: str
    owner: str
    title: str


@dataclass
class Media:
    """Uploaded image, generated image or video.

    Videos: ``status`` 6/2/3 or a failure, ``polls`` counts ``jwpduf`` calls naming it,
    ``url_reads`` the ``as29s`` reads after it was done; ``scheduled`` False for a job Flow
    accepted and never ran (extend from a workflow id, spec §5.7); ``doomed`` the failure
    (status, message) it will end in (fault ``video_fail``).
    """

    id: str
    kind: str  # "upload" (image) | "image" | "video" | "video_upload" (a user's video, spec §14.2)
    owner: str
    project: str | None
    workflow_id: str
    created: float
    mime_type: str = "image/png"
    width: int = 0
    height: int = 0
    tint: tuple[int, int, int] | None = None
    prompt: str = ""
    seed: int = 0
    model: str = ""
    aspect: int = 2
    status: int = 6
    polls: int = 0
    polls_to_finish: int = 2
    url_reads: int = 0
    failure: tuple[int, str] | None = None
    doomed: tuple[int, str] | None = None
    scheduled: bool = True
    source: str | None = None
    duration_s: float = 8

    @property
    def portrait(self) -> bool:
        """Whether a video's aspect enum is 1, portrait (2 is landscape): which bundled MP4 it serves."""
        return self.aspect == 1

    def record(self, *, urls: dict[str, str] | None = None, size: int | None = None) -> list[Any]:
        """RECORD ``[id0, projectId, id2, "CAE", null, DETAILS, null, MEDIA_INFO]`` (spec §6.2)."""
        details: list[Any] = [None] * 14
        if self.failure is not None:
            code, message = self.failure
            details[8] = [code, [None, message], [message]]
        else:
            details[8] = [self.status]
        details[1] = self.seed
        details[7] = self.prompt
        media_info: list[Any] = [[None] * 13, [None, None, [self.duration_s]]]
        media_info[0][12] = self.model
        if urls:
            details[10] = urls.get("poster")
            media_info[0][8] = urls.get("video")
        if size is not None:
            details[13] = size
        return [self.id, self.project, self.workflow_id, "CAE", None, details, None, media_info]


@dataclass
class IssuedToken:
    """A minted reCAPTCHA token: for ``action`` on project page ``project`` (``None`` = unknown page)."""

    action: str
    project: str | None
    issued: float
    used: bool = False


class World:
    """All emulator state."""

    def __init__(self) -> None:
        self.accounts: dict[str, EmulatorAccount] = {}
        self.projects: dict[str, Project] = {}
        self.media: dict[str, Media] = {}
        self.tokens: dict[str, IssuedToken] = {}
        #: resumable video-upload sessions by upload id (spec §14.2): owner, project, declared total, bytes so far
        self.uploads: dict[str, dict[str, Any]] = {}

    def account_by_cookies(self, cookies: dict[str, str]) -> EmulatorAccount | None:
        """The account whose app-session cookie *and* one identity SSO cookie are in ``cookies`` (spec §2.3)."""
        for account in self.accounts.values():
            app = any(cookies.get(n) and cookies.get(n) == account.cookies.get(n) for n in APP_COOKIES)
            sso = any(cookies.get(n) and cookies.get(n) == account.cookies.get(n) for n in IDENTITY_SSO)
            if app and sso:
                return account
        return None

    def account_by_sso(self, cookies: dict[str, str]) -> EmulatorAccount | None:
        """The account of the SSO cookies alone (``/accounts/SetOSID``)."""
        for account in self.accounts.values():
            if any(cookies.get(n) and cookies.get(n) == account.cookies.get(n) for n in IDENTITY_SSO):
                return account
        return None

    def new_project(self, owner: str, title: str) -> Project:
        project = Project(str(uuid.uuid4()), owner, title)
        self.projects[project.id] = project
        return project

    def forget_projects(self, owner: str | None = None) -> int:
        """Forget every project (of ``owner`` when given), as a restart does: RPCs naming one then get NOT_FOUND
        (``[5]``) and its page redirects to ``/404?reason=project``. Returns how many were forgotten."""
        gone = [pid for pid, p in self.projects.items() if owner is None or p.owner == owner]
        for pid in gone:
            del self.projects[pid]
        return len(gone)

    def add_media(self, media: Media) -> Media:
        self.media[media.id] = media
        return media

    def owned(self, media_id: Any, owner: str, kinds: tuple[str, ...]) -> Media | None:
        """The media ``media_id`` if it belongs to ``owner`` and is one of ``kinds``."""
        media = self.media.get(media_id) if isinstance(media_id, str) else None
        return media if media is not None and media.owner == owner and media.kind in kinds else None
