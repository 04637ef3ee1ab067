"""The storyboard document (what is stored, one row each) and the public ``storyboard`` object built from it.

Storyboard ``status``: ``planning`` → ``generating`` → ``ready`` → ``approved``; ``failed`` when planning
failed or every scene failed. A regenerated scene takes the storyboard back to ``generating``.
Scene ``status``: ``queued`` → ``generating`` → ``done`` | ``failed``; ``approved`` after approval.
A scene's ``clip`` (issue 20 item 7, an approved scene animated): ``queued`` → ``generating`` → ``done`` |
``failed``. While a clip is pending the row is stored as ``animating`` (:attr:`Storyboard.stored_status`), so
a restart takes it up again; the public ``status`` stays what the images make it.
"""

from __future__ import annotations

import re
import time
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flow2api.plugin import Owner

PLANNING, GENERATING, READY, APPROVED, FAILED = "planning", "generating", "ready", "approved", "failed"
QUEUED, DONE = "queued", "done"
ANIMATING = "animating"
UNFINISHED = (PLANNING, GENERATING)
RESUMED = (*UNFINISHED, ANIMATING)
SURFACE = "storyboards"
MAX_SCENES = 24

SceneStatus = Literal["queued", "generating", "done", "failed", "approved"]
ClipStatus = Literal["queued", "generating", "done", "failed"]


class Character(BaseModel):
    """A recurring character: ``name``, a visual ``description`` carried by every prompt that shows them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    description: str = Field("", max_length=500)


class PlanningError(Exception):
    """Planning failed; the message is the reason shown in the storyboard's ``error`` (never a secret)."""


class PlannedScene(BaseModel):
    """One planned scene; ``characters`` names characters of the plan."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=200)
    narration: str = Field(min_length=1)
    prompt: str = Field(min_length=1, max_length=4000)
    characters: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    """A planner's answer: ``characters`` (recurring, described) and 1–24 ``scenes``."""

    model_config = ConfigDict(extra="ignore")

    characters: list[Character] = Field(default_factory=list)
    scenes: list[PlannedScene] = Field(min_length=1, max_length=MAX_SCENES)

    @model_validator(mode="after")
    def _known_characters(self) -> Plan:
        known = {c.name for c in self.characters}
        for i, scene in enumerate(self.scenes):
            unknown = [n for n in scene.characters if n not in known]
            if unknown:
                raise ValueError(f"scenes[{i}].characters names {unknown}, not in 'characters'")
        return self


class Clip(BaseModel):
    """A scene's short video, made from its approved image by an image-to-video ``model``. ``attempt`` numbers
    its generations: the Videos API job of the current one is :meth:`Storyboard.clip_task_id`. ``video`` is
    the media-cache name of the finished clip. ``never_queued``: the current attempt failed before its job was
    queued (a key not allowed the video model, an expired image), so no job of that id exists."""

    status: ClipStatus = "queued"
    model: str
    prompt: str
    attempt: int = 0
    video: str | None = None
    mime_type: str | None = None
    error: str | None = None
    never_queued: bool = False

    @property
    def pending(self) -> bool:
        """Queued or generating: work a restart takes up again."""
        return self.status in (QUEUED, GENERATING)


class Scene(BaseModel):
    """One scene. ``image`` is the media-cache name of its current image; ``attempt`` numbers its generations
    (the task row of the current one is ``<storyboard id>-<index>-<attempt>``); ``references`` the scene
    indexes whose images were passed as reference images. ``clip_attempts`` counts every clip attempt begun,
    also of clips dropped by a regeneration, so a new clip never reuses a job id and a deletion finds them."""

    index: int
    title: str
    narration: str
    prompt: str
    characters: list[str] = Field(default_factory=list)
    status: SceneStatus = "queued"
    image: str | None = None
    mime_type: str | None = None
    error: str | None = None
    attempt: int = 0
    references: list[int] = Field(default_factory=list)
    clip: Clip | None = None
    clip_attempts: int = 0


class Storyboard(BaseModel):
    """The stored document; ``owner`` is the API key's ownership value (``"global"``, ``"key:<id>"``, ``"admin"``)."""

    id: str
    owner: str
    owner_name: str
    owner_key_id: int | None = None
    created_at: int = Field(default_factory=lambda: int(time.time()))
    status: str = PLANNING
    error: str | None = None
    story: str
    style: str | None = None
    model: str
    size: str | None = None
    requested_scenes: int | None = None
    consistent_characters: bool = True
    characters: list[Character] = Field(default_factory=list)
    scenes: list[Scene] = Field(default_factory=list)

    @property
    def job_owner(self) -> Owner:
        """The owner of the storyboard's jobs and webhook events (its key, as the core knows it)."""
        return Owner(owner=self.owner, name=self.owner_name, key_id=self.owner_key_id)

    def task_id(self, scene: Scene) -> str:
        """The task row of ``scene``'s current generation."""
        return f"{self.id}-{scene.index}-{scene.attempt}"

    def clip_task_id(self, scene: Scene) -> str:
        """The Videos API job of ``scene``'s current clip (``GET /v1/videos/{id}`` shows it to the owner)."""
        assert scene.clip is not None
        return f"video_{self.id}_{scene.index}_{scene.clip.attempt}"

    def clip_task_ids(self, scene: Scene) -> list[str]:
        """Every Videos API job id ``scene``'s clips may have had, oldest first (some may never have been
        queued); a row stored before ``clip_attempts`` existed counts its current clip's attempts."""
        attempts = max(scene.clip_attempts, scene.clip.attempt if scene.clip else 0)
        return [f"video_{self.id}_{scene.index}_{attempt}" for attempt in range(1, attempts + 1)]

    @property
    def stored_status(self) -> str:
        """The row's status: ``animating`` while a clip is pending once the images are settled, else ``status``."""
        if self.status not in UNFINISHED and any(s.clip and s.clip.pending for s in self.scenes):
            return ANIMATING
        return self.status

    def settle(self) -> None:
        """Recompute ``status`` from the scenes once planning is over (see the module docstring)."""
        if self.status in (PLANNING,) or (self.status == FAILED and not self.scenes):
            return
        states = {s.status for s in self.scenes}
        if states & {QUEUED, GENERATING}:
            self.status = GENERATING
        elif states == {FAILED}:
            self.status, self.error = FAILED, "every scene failed"
        elif self.status != APPROVED:
            self.status = READY

    def public(self, media_url: Any) -> dict[str, Any]:
        """The API object (issue 20 §3); ``media_url(name)`` → the image's public URL."""
        return {
            "id": self.id, "object": "storyboard", "status": self.status, "created_at": self.created_at,
            "error": self.error, "story": self.story, "style": self.style, "model": self.model, "size": self.size,
            "consistent_characters": self.consistent_characters,
            "characters": [c.model_dump() for c in self.characters],
            "scenes": [{
                "index": s.index, "title": s.title, "narration": s.narration, "prompt": s.prompt,
                "characters": s.characters, "status": s.status,
                "image_url": media_url(s.image) if s.image else None, "error": s.error, "references": s.references,
                "clip": _public_clip(self, s, media_url),
            } for s in self.scenes],
        }


def _public_clip(board: Storyboard, scene: Scene, media_url: Any) -> dict[str, Any] | None:
    """A scene's ``clip`` object: ``{status, model, prompt, video_id, video_url, error}`` (``None``: never animated)."""
    clip = scene.clip
    if clip is None:
        return None
    return {"status": clip.status, "model": clip.model, "prompt": clip.prompt,
            "video_id": board.clip_task_id(scene) if clip.attempt and clip.status != QUEUED
            and not clip.never_queued else None,
            "video_url": media_url(clip.video) if clip.video else None, "error": clip.error}


def slug(text: str, limit: int = 40) -> str:
    """``"The Lighthouse, at Dawn!"`` → ``"the-lighthouse-at-dawn"`` (ASCII, at most ``limit`` characters)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:limit].rstrip("-") or "scene"


def compose_prompt(prompt: str, style: str | None, characters: list[Character]) -> str:
    """The image prompt of a scene: the planner's prompt, the characters shown with their descriptions and the
    style, so every scene's image carries them even without reference images."""
    parts = [prompt.strip().rstrip(".") + "."]
    if characters:
        described = "; ".join(f"{c.name}: {c.description}" if c.description else c.name for c in characters)
        parts.append(f"Characters (keep their appearance identical across scenes): {described}.")
    if style:
        parts.append(f"Style: {style.strip().rstrip('.')}.")
    return " ".join(parts)
