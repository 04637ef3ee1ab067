"""The OpenAI Videos API requests that start from an existing video: remix, edits, extensions.

OpenAI API reference "Videos": ``POST /videos/{video_id}/remix`` (``prompt``),
``POST /videos/edits`` (``prompt``, ``video``: ``{"id"}`` of a completed video
or an uploaded file), ``POST /videos/extensions`` (``prompt``, ``seconds``,
``video``). The ``openai`` SDK sends edits and extensions as multipart, a
video reference flattened to ``video[id]``; JSON bodies are accepted too, with
the file as a ``data:video/mp4;base64,…`` URI. flow2api adds an optional
``model`` (LiteLLM's edits/extensions take one): without it the source's own
account family chooses its edit or extension model
(:mod:`flow2api.api.video_sources`).

These are not routed by the route stage (their model depends on the source
video, a database read): the handlers read them with :meth:`read` and resolve
the model themselves.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field, field_validator

from flow2api.api.schemas.base import HintFields, Loose, check_prompt
from flow2api.errors import InvalidRequestError
from flow2api.plugin import Kind
from flow2api.settings import Settings

PARAM = "video"


class VideoReference(Loose):
    """``{"id": "video_…"}``: a completed video of the caller's."""

    id: str = Field(min_length=1)


class VideoRemixRequest(HintFields):
    """``POST /v1/videos/{video_id}/remix``: ``prompt`` (required); JSON or a form."""

    kind = Kind.VIDEO
    forms = True

    prompt: str

    def check(self, settings: Settings) -> None:
        """The prompt within ``[generation] max_prompt_chars``."""
        check_prompt(self.prompt, settings, "prompt")


class VideoEditRequest(VideoRemixRequest):
    """``POST /v1/videos/edits``: ``prompt``, ``video`` (``{"id"}``, an uploaded file, or in JSON a data URI),
    ``model`` (optional), ``size`` (optional hint for an alias ``model``)."""

    model: str | None = Field(None, min_length=1)
    video: VideoReference | str | None = None
    size: str | None = None

    @classmethod
    def from_form(cls, form: Any, max_bytes: int) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """Text fields; a ``video`` file as the upload (read whole: the server's body limit bounds it);
        ``video[id]`` (how the SDK flattens the reference) back into an object."""
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str) and not k.startswith(PARAM)}
        uploads: list[tuple[str, bytes]] = []
        for value in form.getall(PARAM, []):
            if isinstance(value, web.FileField):
                uploads.append((PARAM, value.file.read()))
            elif value:
                fields[PARAM] = value
        if form.get(f"{PARAM}[id]"):
            fields[PARAM] = {"id": form[f"{PARAM}[id]"]}
        return fields, uploads

    def check(self, settings: Settings) -> None:
        """Exactly one source: a video id or a file."""
        given = (self.video is not None) + len(self._uploads)
        if given != 1:
            raise InvalidRequestError(
                'Give one source video: "video": {"id": "<video id>"} or an uploaded file.', param=PARAM)
        super().check(settings)

    def source_id(self) -> str | None:
        """The id of the source video when it is one of ours."""
        return self.video.id if isinstance(self.video, VideoReference) else None

    def upload(self) -> bytes | str | None:
        """The uploaded file's bytes, or the JSON body's data URI; ``None`` for a source by id."""
        if self._uploads:
            return self._uploads[0][1]
        return self.video if isinstance(self.video, str) else None

    def summary(self) -> Any:
        """The request as stored, the upload replaced by its size."""
        summary = super().summary()
        upload = self.upload()
        if upload is not None:
            summary[PARAM] = f"<upload, {len(upload)} bytes>"
        return summary


class VideoExtendRequest(VideoEditRequest):
    """``POST /v1/videos/extensions``: ``prompt``, ``video`` (``{"id"}`` only), ``seconds`` (required: the
    extension's length or the stitched total, see :mod:`flow2api.api.video_sources`), ``model`` (optional)."""

    seconds: str | int

    @field_validator("seconds")
    @classmethod
    def _whole_seconds(cls, value: str | int) -> str:
        if not str(value).isdigit() or len(str(value)) > 3:
            raise ValueError('must be a whole number of seconds, e.g. "8"')
        return str(int(value))

    def check(self, settings: Settings) -> None:
        """The source is a video id: whether Flow can extend an uploaded video is unknown (spec §14.2)."""
        super().check(settings)
        if self.source_id() is None:
            raise InvalidRequestError(
                'Extensions take a completed video of yours: "video": {"id": "<video id>"}; an uploaded file '
                "cannot be extended.", param=PARAM)
