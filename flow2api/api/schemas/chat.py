"""The OpenAI chat completions request (OpenAI API reference "Create chat completion"), as flow2api reads it.

Typed: ``model`` (required), ``messages`` (at least one, at least one of role
``user``; roles ``system``, ``developer``, ``user``, ``assistant``, ``tool``,
``function``; ``content`` a string, ``null`` or a list of ``text`` /
``image_url`` / ``input_audio`` / ``file`` / ``refusal`` parts), ``stream`` and
``stream_options.include_usage`` (booleans), ``n`` (1–128; one result is
made), ``temperature``/``top_p`` (numbers), ``max_tokens``/``max_completion_tokens``
(integers), ``user``; the deprecated top-level ``image`` data URI of the
original project (spec §5.1) and the resolver hints of
:class:`~flow2api.api.schemas.base.HintFields` (plus ``size``, ``quality``).

The prompt (spec §5.2) is the text of the **last** message, its ``image_url``
parts the input images; earlier messages only give the conversation's last
generated image (:meth:`ChatCompletionRequest.history_image_url`).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field

from flow2api.api.schemas.base import HintFields, Loose, check_prompt, data_uri_header
from flow2api.errors import InvalidRequestError
from flow2api.settings import Settings

_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class TextPart(Loose):
    """``{"type": "text", "text"}``."""

    type: Literal["text"]
    text: str


class ImageUrl(Loose):
    """``image_url``: ``url`` (data URI, http(s), our ``/media/`` URL, ``extend://<media id>``) and ``detail``."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageUrlPart(Loose):
    """``{"type": "image_url", "image_url": {"url"}}`` (a bare URL string is accepted too, as the original did)."""

    type: Literal["image_url"]
    image_url: ImageUrl | str

    @property
    def url(self) -> str:
        """The part's URL."""
        return self.image_url if isinstance(self.image_url, str) else self.image_url.url


class OtherPart(Loose):
    """Parts the reference allows that flow2api cannot turn into a media prompt (refused in the last message)."""

    type: Literal["input_audio", "file", "refusal"]


Part = Annotated[TextPart | ImageUrlPart | OtherPart, Field(discriminator="type")]


class Message(Loose):
    """One chat message: ``role`` from the reference's list, ``content`` a string, ``null`` or parts."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Part] | None = None
    name: str | None = None

    def texts(self) -> list[str]:
        """The text of the content: the string, or the ``text`` parts in order."""
        if isinstance(self.content, str):
            return [self.content]
        return [p.text for p in self.content or () if isinstance(p, TextPart)]


class StreamOptions(Loose):
    """``stream_options``: ``include_usage``."""

    include_usage: bool | None = None


class ChatCompletionRequest(HintFields):
    """``POST /v1/chat/completions``; see the module docstring."""

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1, le=128)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    user: str | None = None
    image: str | None = None
    size: str | None = None
    quality: str | None = None

    def check(self, settings: Settings) -> None:
        """At least one ``user`` message; the last message's parts usable; its prompt within the limit."""
        if not any(m.role == "user" for m in self.messages):
            raise InvalidRequestError("The conversation has no message with role 'user'.", param="messages")
        last = len(self.messages) - 1
        for i, part in enumerate(self.messages[-1].content if isinstance(self.messages[-1].content, list) else ()):
            if isinstance(part, OtherPart):
                raise InvalidRequestError(f"Unsupported content part type {part.type!r}.",
                                          param=f"messages[{last}].content[{i}]")
        if not self.prompt:
            raise InvalidRequestError("The last message has no text prompt.", param="messages")
        check_prompt(self.prompt, settings, "messages")

    @cached_property
    def prompt(self) -> str:
        """The prompt: the last message's text parts joined with newlines (spec §5.2)."""
        return "\n".join(t for t in self.messages[-1].texts() if t.strip()).strip()

    def image_urls(self) -> list[str]:
        """The last message's ``image_url`` URLs in order, then the deprecated top-level ``image``."""
        content = self.messages[-1].content
        urls = [p.url for p in content if isinstance(p, ImageUrlPart)] if isinstance(content, list) else []
        if self.image:
            urls.append(self.image)  # spec §5.1: the deprecated single data-URI field of the original project
        return urls

    def image_header(self) -> bytes | None:
        """The start of the first inline (data URI) image of the last message, else of the top-level ``image``."""
        for url in self.image_urls():
            if url.startswith("data:"):
                return data_uri_header(url)
        return None

    def history_image_url(self) -> str | None:
        """The last markdown image URL of the newest earlier assistant message that has one (spec §5.2), else
        ``None``."""
        for message in reversed(self.messages[:-1]):
            if message.role == "assistant":
                found = _MARKDOWN_IMAGE.findall("\n".join(message.texts()))
                if found:
                    return found[-1]
        return None
