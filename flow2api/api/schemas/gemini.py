"""The Gemini ``generateContent`` request (Gemini API reference "GenerateContentRequest"), as flow2api reads it.

Typed (camelCase as the reference writes it, snake_case accepted): ``contents``
(a non-empty list of ``Content``: ``role`` ``user`` or ``model`` (default
``user``), ``parts`` non-empty, each ``text`` (with ``thought``), ``inlineData
{mimeType, data}`` or ``fileData {fileUri, mimeType}``; other part kinds such
as ``functionCall`` are allowed in history), at least one ``user`` turn;
``systemInstruction`` (a ``Content`` or a string); ``generationConfig`` with
``imageConfig.aspectRatio`` (one of Gemini's ratios, or an aspect word of the
original project), ``imageConfig.imageSize`` (``1K``/``2K``/``4K``, any case;
``720p``/``1080p`` for videos), ``responseModalities``, ``candidateCount``,
``temperature``. The model is the URL's ``{model}``.

Input (spec §5.2): the last ``user`` item; ``systemInstruction`` is prepended
to the prompt unless it looks like agent/tool scaffolding, which is dropped.
"""

from __future__ import annotations

import logging
import re
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator

from flow2api.api.schemas.base import Loose, SurfaceModel, check_prompt, data_uri_header, spelled
from flow2api.catalog import ResolveHints
from flow2api.catalog.hints import aspect_word
from flow2api.errors import InvalidRequestError
from flow2api.settings import Settings

log = logging.getLogger(__name__)

# Gemini's imageConfig values (Gemini 3 image models add the extreme ratios and 512); a ratio no alias row has
# selects the alias's default aspect (spec §4.4), a size it lacks is ignored.
GEMINI_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "1:4", "4:1", "1:8",
                        "8:1")
IMAGE_SIZES = ("512", "1k", "2k", "4k", "720p", "1080p")
MAX_SYSTEM_INSTRUCTION_CHARS = 1200
# Spec §5.2: a systemInstruction that looks like agent/tool scaffolding is dropped, not prepended to a media prompt.
_SCAFFOLDING = re.compile(
    r"<tools>|<tool_call>|<function_calls>|\"type\"\s*:\s*\"function\"|\"parameters\"\s*:\s*\{|\$schema|"
    r"function[_ ]call|You have access to the following tools",
    re.IGNORECASE,
)


class Blob(Loose):
    """``inlineData``: ``mimeType`` and base64 ``data``."""

    mime_type: str | None = spelled("mimeType", "mime_type")
    data: str


class FileData(Loose):
    """``fileData``: ``fileUri`` (http(s) or our ``/media/`` URL) and ``mimeType``."""

    file_uri: str = spelled("fileUri", "file_uri", default=...)
    mime_type: str | None = spelled("mimeType", "mime_type")


class Part(Loose):
    """One part: ``text`` (``thought`` marks a model's thinking), ``inlineData`` or ``fileData``."""

    text: str | None = None
    thought: bool | None = None
    inline_data: Blob | None = spelled("inlineData", "inline_data")
    file_data: FileData | None = spelled("fileData", "file_data")


class Content(Loose):
    """One turn: ``role`` ``user`` (default) or ``model``, and its parts."""

    role: Literal["user", "model"] | None = None
    parts: list[Part] = Field(min_length=1)


class SystemInstruction(Loose):
    """``systemInstruction`` as a ``Content`` (clients send ``role`` ``user``, ``system`` or none)."""

    role: str | None = None
    parts: list[Part] = Field(default_factory=list)


class ImageConfig(Loose):
    """``generationConfig.imageConfig``: ``aspectRatio``, ``imageSize``."""

    aspect_ratio: str | None = spelled("aspectRatio", "aspect_ratio")
    image_size: str | None = spelled("imageSize", "image_size")

    @field_validator("aspect_ratio")
    @classmethod
    def _ratio(cls, value: str | None) -> str | None:
        if value is not None and value not in GEMINI_ASPECT_RATIOS and aspect_word(value) is None:
            raise ValueError(f"supported values are {', '.join(GEMINI_ASPECT_RATIOS)}")
        return value

    @field_validator("image_size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in IMAGE_SIZES:
            raise ValueError("supported values are 512, 1K, 2K, 4K")
        return value


class GenerationConfig(Loose):
    """``generationConfig``: the fields flow2api reads or types (others are ignored)."""

    image_config: ImageConfig | None = spelled("imageConfig", "image_config")
    response_modalities: list[str] | None = spelled("responseModalities", "response_modalities")
    candidate_count: int | None = spelled("candidateCount", "candidate_count")
    temperature: float | None = None


class GenerateContentRequest(SurfaceModel):
    """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``; see the module docstring."""

    model_in_path = True

    contents: list[Content] = Field(min_length=1)
    system_instruction: SystemInstruction | str | None = spelled("systemInstruction", "system_instruction")
    generation_config: GenerationConfig | None = spelled("generationConfig", "generation_config")

    def check(self, settings: Settings) -> None:
        """A ``user`` turn whose parts are text or images, with a prompt within ``[generation] max_prompt_chars``."""
        users = [i for i, c in enumerate(self.contents) if c.role in (None, "user")]
        if not users:
            raise InvalidRequestError("'contents' has no user turn.", param="contents")
        for i, part in enumerate(self.contents[users[-1]].parts):
            param = f"contents[{users[-1]}].parts[{i}]"
            if part.text is None and part.inline_data is None and part.file_data is None:
                raise InvalidRequestError("Parts must be text, inlineData or fileData.", param=param)
            mime = part.inline_data.mime_type if part.inline_data else None
            if mime and not mime.startswith("image/"):
                raise InvalidRequestError(f"Only image inlineData is accepted, not {mime}.", param=param)
            if part.file_data is not None and not part.file_data.file_uri:
                raise InvalidRequestError("fileData needs a fileUri.", param=param)
        if not self.user_text:
            raise InvalidRequestError("The last user turn has no text prompt.", param="contents")
        check_prompt(self.prompt, settings, "contents")

    @property
    def last_user(self) -> tuple[int, Content]:
        """The index and item of the last ``user`` turn (spec §5.2)."""
        index = max(i for i, c in enumerate(self.contents) if c.role in (None, "user"))
        return index, self.contents[index]

    @cached_property
    def user_text(self) -> str:
        """The last user turn's text parts (not thoughts) joined with newlines."""
        texts = [p.text for p in self.last_user[1].parts if p.text is not None and not p.thought]
        return "\n".join(t for t in texts if t.strip()).strip()

    @cached_property
    def prompt(self) -> str:
        """The prompt: the system instruction (unless scaffolding) and the last user turn's text."""
        system = system_instruction_text(self.system_instruction)
        return f"{system}\n\n{self.user_text}" if system else self.user_text

    def images(self) -> list[tuple[Blob | str, str]]:
        """The last user turn's images in order: ``inlineData`` blobs and ``fileData`` URIs, with their ``param``."""
        index, content = self.last_user
        return [(p.inline_data if p.inline_data is not None else p.file_data.file_uri, f"contents[{index}].parts[{i}]")
                for i, p in enumerate(content.parts) if p.inline_data is not None or p.file_data is not None]

    def hints(self) -> ResolveHints:
        """``generationConfig.imageConfig.{aspectRatio, imageSize}``."""
        config = self.generation_config.image_config if self.generation_config else None
        return ResolveHints(aspect_ratio=config.aspect_ratio or None, image_size=config.image_size or None) \
            if config else ResolveHints()

    def image_header(self) -> bytes | None:
        """The start of the last user turn's first ``inlineData`` image."""
        blob = next((image for image, _ in self.images() if isinstance(image, Blob)), None)
        return data_uri_header(f"data:;base64,{blob.data}") if blob is not None else None


def system_instruction_text(value: SystemInstruction | str | None) -> str:
    """The text of a ``systemInstruction`` to prepend to the prompt, or ``""``.

    Spec §5.2: instructions that look like agent or tool scaffolding (longer
    than 1200 characters, ``<tools>`` blocks, function-calling boilerplate,
    JSON-schema markers) are dropped, since they would only pollute a media prompt.
    """
    if isinstance(value, SystemInstruction):
        text = "\n".join(p.text for p in value.parts if p.text is not None)
    else:
        text = value or ""
    text = text.strip()
    if len(text) > MAX_SYSTEM_INSTRUCTION_CHARS or _SCAFFOLDING.search(text):
        log.debug("systemInstruction dropped: looks like tool scaffolding (%d chars)", len(text))
        return ""
    return text
