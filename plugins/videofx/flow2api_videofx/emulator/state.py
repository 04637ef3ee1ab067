"""The emulator's in-memory world: accounts, access tokens, projects, media and async jobs.

Owns every record a client can create or look up, the id formats (ST, AT, media names, video
UUIDs, operation names) and the ownership rules (a media or project belongs to one account).
Nothing here speaks HTTP; handlers translate lookups that fail into the surface's errors.

Memory stays flat: generated images are stored as their rendering parameters (the PNG is
rendered on demand, see `flow2api_flowkit.emulator.render`), uploads as metadata, videos share
two bundled MP4 assets.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Literal

from .settings import PAYGATE_TIERS, EmulatorAccount

VideoStatus = str
PENDING = "MEDIA_GENERATION_STATUS_PENDING"
ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"
SUCCESSFUL = "MEDIA_GENERATION_STATUS_SUCCESSFUL"
FAILED = "MEDIA_GENERATION_STATUS_FAILED"


def _token(nbytes: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode("ascii")


def new_access_token() -> str:
    """An opaque OAuth-looking bearer: ``ya29.a0`` + ~220 URL-safe characters."""
    return "ya29.a0" + _token(165)


def new_media_name(kind: Literal["upload", "image", "video"]) -> str:
    """Media names look like Flow's base64 protobuf ids; the prefix tells the kind apart."""
    prefix = {"upload": "CAMaJ", "image": "CAIaJ", "video": "CAUSJ"}[kind]
    return prefix + _token(45)


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_operation_name() -> str:
    """Long-running operation names: 32 lower-case hex digits."""
    return secrets.token_hex(16)


@dataclass
class AccessToken:
    """A bearer issued by `/auth/session` (§1.3); valid until ``expires_at`` (Unix seconds)."""

    value: str
    email: str
    expires_at: float


@dataclass
class Project:
    """A Flow project (§2.3), owned by one account."""

    project_id: str
    email: str
    title: str
    created_at: float
    deleted: bool = False


@dataclass
class UploadedImage:
    """An uploaded image (§2.5). Only metadata is kept; ``color`` is its mean RGB (tints results)."""

    name: str
    email: str
    project_id: str | None
    mime_type: str
    width: int
    height: int
    color: tuple[int, int, int]
    size: int
    created_at: float


@dataclass
class GeneratedImage:
    """A 1K image from batchGenerateImages (§2.6); its PNG is rendered from these parameters."""

    name: str
    email: str
    project_id: str
    session_id: str
    prompt: str
    seed: int
    model: str
    aspect_ratio: str
    width: int
    height: int
    tint: tuple[int, int, int] | None
    cdn_id: str
    created_at: float
    color: tuple[int, int, int] = (128, 128, 128)


@dataclass
class Video:
    """One async video job and its result (§2.8-§2.15, state machine §3.1).

    ``name`` is the media name clients poll with; ``video_id`` is the UUID of the CDN path that
    upsample/extend/concatenation take (§3.3).
    """

    name: str
    video_id: str
    email: str
    project_id: str
    operation: str
    model_key: str
    aspect_ratio: str
    seed: int
    prompt: str
    operation_name: str
    workflow_id: str
    scene_id: str
    batch_id: str
    polls_to_finish: int
    created_at: float
    failure: tuple[str, int, str] | None = None  # (terminal status, error code, error message)
    source_video_id: str | None = None
    resolution: str | None = None
    polls: int = 0

    @property
    def status(self) -> VideoStatus:
        """PENDING before any poll; then PENDING/ACTIVE until ``polls_to_finish`` polls, then terminal."""
        if self.polls >= self.polls_to_finish:
            return self.failure[0] if self.failure else SUCCESSFUL
        if self.polls == 0 or (self.polls == 1 and self.polls_to_finish >= 3):
            return PENDING
        return ACTIVE


@dataclass
class Concatenation:
    """A ``:runVideoFxConcatenation`` job (§2.20); finishes after ``polls_to_finish`` status calls."""

    operation_name: str
    email: str
    input_video_ids: list[str]
    aspect_ratio: str
    video_id: str
    polls_to_finish: int
    created_at: float
    polls: int = 0


@dataclass
class World:
    """All records, indexed the ways handlers look them up."""

    accounts: dict[str, EmulatorAccount] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    images: dict[str, UploadedImage | GeneratedImage] = field(default_factory=dict)
    images_by_cdn_id: dict[str, GeneratedImage] = field(default_factory=dict)
    videos: dict[str, Video] = field(default_factory=dict)
    videos_by_id: dict[str, Video] = field(default_factory=dict)
    concatenations: dict[str, Concatenation] = field(default_factory=dict)
    concatenations_by_video_id: dict[str, Concatenation] = field(default_factory=dict)

    # accounts and tokens -------------------------------------------------------------------
    def add_account(self, account: EmulatorAccount) -> EmulatorAccount:
        """Register (or replace, by e-mail) an account. Raises ValueError on a bad tier or a taken ST."""
        if account.tier not in PAYGATE_TIERS:
            raise ValueError(f"unknown tier {account.tier!r}; expected one of {', '.join(PAYGATE_TIERS)}")
        for other in self.accounts.values():
            if other.st == account.st and other.email != account.email:
                raise ValueError(f"session token already belongs to {other.email}")
        self.accounts[account.email] = account
        return account

    def account_by_st(self, st: str | None) -> EmulatorAccount | None:
        if not st:
            return None
        return next((a for a in self.accounts.values() if secrets.compare_digest(a.st.encode(), st.encode())), None)

    def issue_access_token(self, email: str, expires_at: float) -> AccessToken:
        token = AccessToken(new_access_token(), email, expires_at)
        self.access_tokens[token.value] = token
        return token

    def expire_access_tokens(self, email: str, now: float) -> int:
        """Make every current AT of ``email`` expired (fault ``expire_at``); returns how many."""
        count = 0
        for token in self.access_tokens.values():
            if token.email == email and token.expires_at > now:
                token.expires_at = now - 1
                count += 1
        return count

    # projects ------------------------------------------------------------------------------
    def create_project(self, email: str, title: str, now: float) -> Project:
        project = Project(new_uuid(), email, title, now)
        self.projects[project.project_id] = project
        return project

    def forget_projects(self, email: str | None = None) -> int:
        """Forget every project (of ``email`` when given), as a restart does: later calls naming one get 404
        NOT_FOUND. Returns how many were forgotten."""
        gone = [pid for pid, p in self.projects.items() if email is None or p.email == email]
        for pid in gone:
            del self.projects[pid]
        return len(gone)

    # media ---------------------------------------------------------------------------------
    def add_image(self, image: UploadedImage | GeneratedImage) -> None:
        self.images[image.name] = image
        if isinstance(image, GeneratedImage):
            self.images_by_cdn_id[image.cdn_id] = image

    def add_video(self, video: Video) -> None:
        self.videos[video.name] = video
        self.videos_by_id[video.video_id] = video

    def owner_of_media(self, name: str) -> str | None:
        """E-mail of whoever owns a media name, video UUID or image CDN id (for fault matching)."""
        for index in (self.images, self.videos, self.videos_by_id, self.images_by_cdn_id):
            record = index.get(name)
            if record is not None:
                return record.email
        concat = self.concatenations_by_video_id.get(name)
        return concat.email if concat else None

    def add_concatenation(self, concat: Concatenation) -> None:
        self.concatenations[concat.operation_name] = concat
        self.concatenations_by_video_id[concat.video_id] = concat
