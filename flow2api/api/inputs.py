"""Turning client input into a prompt and input images (spec §5.2), shared by the surfaces.

Images arrive as ``data:image/…;base64,…`` URIs, ``http(s)://`` URLs,
multipart uploads or Gemini ``inlineData``; every one is checked (size ≤
``[generation] max_input_image_bytes``, real image type by magic bytes) before
a provider sees it. URLs of flow2api's own media (``…/media/<name>``) are read
from the media cache, never fetched over HTTP (no self-call, works behind any
reverse proxy).

Conversation memory (spec §5.2): :func:`history_image_url` finds the image
flow2api produced in the newest earlier assistant message, which the chat
surface makes the first input image of the next turn.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from multidict import MultiDictProxy

from flow2api.errors import InvalidRequestError, PayloadTooLargeError
from flow2api.fetcher import FETCHER, GuardedFetcher
from flow2api.jobs.urls import media_name_from_url
from flow2api.media import MEDIA, MediaCache
from flow2api.media.types import sniff_mime
from flow2api.plugin import InputImage
from flow2api.proxies import HTTP_SESSIONS
from flow2api.settings import SETTINGS

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 20 * 1024 * 1024
PARALLEL_FETCHES = 4  # input URLs of one request fetched at once
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"})
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")
# Spec §5.2: a systemInstruction that looks like agent/tool scaffolding is dropped, not prepended to a media prompt.
_SCAFFOLDING = re.compile(
    r"<tools>|<tool_call>|<function_calls>|\"type\"\s*:\s*\"function\"|\"parameters\"\s*:\s*\{|\$schema|"
    r"function[_ ]call|You have access to the following tools",
    re.IGNORECASE,
)
MAX_SYSTEM_INSTRUCTION_CHARS = 1200


def decode_image(data: bytes, *, param: str, max_bytes: int = MAX_IMAGE_BYTES) -> InputImage:
    """Check raw image bytes (≤ ``max_bytes``, PNG/JPEG/WebP/GIF/BMP by magic bytes) → :class:`InputImage`.

    Raises ``PayloadTooLargeError`` (413) or ``InvalidRequestError`` (400) naming ``param``.
    """
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"An input image is larger than {max_bytes // 1024} KiB.", param=param)
    mime = sniff_mime(data)
    if mime not in IMAGE_TYPES:
        raise InvalidRequestError("An input image is not a PNG, JPEG, WebP, GIF or BMP image.", param=param)
    return InputImage(data=data, mime_type=mime)


def decode_base64_image(payload: str, *, param: str, max_bytes: int = MAX_IMAGE_BYTES) -> InputImage:
    """Decode base64 (standard or URL-safe alphabet) image bytes; 400 for bad base64 or a non-image."""
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise PayloadTooLargeError(f"An input image is larger than {max_bytes // 1024} KiB.", param=param)
    try:
        data = base64.b64decode(payload, altchars=b"-_" if ("-" in payload or "_" in payload) else None, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("An input image is not valid base64.", param=param) from None
    return decode_image(data, param=param, max_bytes=max_bytes)


def decode_data_uri(uri: str, *, param: str, max_bytes: int = MAX_IMAGE_BYTES) -> InputImage:
    """Decode ``data:image/<type>;base64,<data>``; 400 for another scheme, bad base64 or a non-image."""
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidRequestError("Image data URIs must look like data:image/png;base64,<data>.", param=param)
    return decode_base64_image(payload, param=param, max_bytes=max_bytes)


@dataclass(frozen=True, slots=True)
class ImageReader:
    """Reads input images for one request: ``fetcher`` downloads URLs, ``proxy()`` the proxy session to send
    them through (``None``: direct; asked only when a URL is fetched, so a request without one opens no
    session), ``media`` serves our own, ``max_bytes`` caps each."""

    fetcher: GuardedFetcher
    proxy: Callable[[], aiohttp.ClientSession | None]
    media: MediaCache
    max_bytes: int = MAX_IMAGE_BYTES

    async def from_url(self, url: str, *, param: str) -> InputImage:
        """An input image from a data URI, one of our ``/media/`` URLs, or an http(s) URL; other schemes → 400."""
        if url.startswith("data:"):
            return decode_data_uri(url, param=param, max_bytes=self.max_bytes)
        if not url.startswith(("http://", "https://", "/media/")):
            raise InvalidRequestError("Image URLs must be data: URIs or http(s) URLs.", param=param)
        own = await self.cached(url)
        if own is not None:
            return decode_image(own, param=param, max_bytes=self.max_bytes)
        if url.startswith("/media/"):
            raise InvalidRequestError("The referenced flow2api media file has expired or does not exist.", param=param)
        return await self.fetch(url, param=param)

    async def read_all(self, items: Sequence[InputImage | tuple[str, str]]) -> list[InputImage]:
        """Images already decoded and ``(url, param)`` pairs → images in the same order; the URLs are read
        concurrently (at most :data:`PARALLEL_FETCHES` at once). The first failure (400/413 naming its
        ``param``) is raised and the other reads are cancelled."""
        gate = asyncio.Semaphore(PARALLEL_FETCHES)

        async def one(item: InputImage | tuple[str, str]) -> InputImage:
            if isinstance(item, InputImage):
                return item
            async with gate:
                return await self.from_url(item[0], param=item[1])

        if sum(not isinstance(item, InputImage) for item in items) <= 1:
            return [await one(item) for item in items]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(item)) for item in items]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    async def cached(self, url: str) -> bytes | None:
        """The bytes of one of our media files when ``url`` names one that is still cached, else ``None``."""
        name = media_name_from_url(url)
        return await self.media.read_bytes(name) if name is not None else None

    async def fetch(self, url: str, *, param: str) -> InputImage:
        """Download an ``http(s)`` image through the guarded fetcher (:mod:`flow2api.fetcher`: public addresses
        only, checked redirects, ≤ ``max_bytes``); 400 when refused or not an image, 413 when too large."""
        data = await self.fetcher.fetch(url, param=param, max_bytes=self.max_bytes, via=self.proxy())
        return decode_image(data, param=param, max_bytes=self.max_bytes)


def input_reader(request: web.Request) -> ImageReader:
    """The request's :class:`ImageReader`: inputs are read before any account is leased, directly through the
    guarded fetcher (``[inputs] use_proxy``: through the ``[proxy]`` session), capped at ``[generation]
    max_input_image_bytes``."""
    app = request.config_dict
    settings = app[SETTINGS].current
    proxy_url = settings.global_proxy_url if settings.inputs.use_proxy else None
    proxy = partial(app[HTTP_SESSIONS].get, proxy_url) if proxy_url else _direct
    return ImageReader(app[FETCHER], proxy, app[MEDIA], settings.generation.max_input_image_bytes)


def _direct() -> None:
    return None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def last_user_parts(messages: Any) -> tuple[str, list[str]]:
    """Prompt text and image URLs of the last message (spec §5.2: only the last one is used).

    ``messages`` is OpenAI's list of ``{"role", "content"}``; ``content`` is a
    string or a list of ``{"type": "text", "text"}`` / ``{"type": "image_url",
    "image_url": {"url"}}`` parts. Text parts are joined with newlines.
    Raises ``InvalidRequestError`` for a malformed list or an empty prompt.
    """
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty list.", param="messages")
    last = messages[-1]
    if not isinstance(last, dict):
        raise InvalidRequestError("Each message must be an object with 'role' and 'content'.", param="messages")
    content = last.get("content")
    texts: list[str] = []
    urls: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, part in enumerate(content):
            param = f"messages[{len(messages) - 1}].content[{i}]"
            if not isinstance(part, dict):
                raise InvalidRequestError("Content parts must be objects.", param=param)
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                if not isinstance(url, str):
                    raise InvalidRequestError("image_url parts need image_url.url.", param=param)
                urls.append(url)
            else:
                raise InvalidRequestError(f"Unsupported content part type {part.get('type')!r}.", param=param)
    elif content is not None:
        raise InvalidRequestError("'content' must be a string or a list of parts.", param="messages")
    prompt = "\n".join(t for t in texts if t.strip()).strip()
    if not prompt:
        raise InvalidRequestError("The last message has no text prompt.", param="messages")
    return prompt, urls


def history_image_url(messages: list[Any]) -> str | None:
    """The last markdown image URL of the newest earlier assistant message that has one (spec §5.2), or ``None``."""
    for message in reversed(messages[:-1]):
        if isinstance(message, dict) and message.get("role") == "assistant":
            found = _MARKDOWN_IMAGE.findall(_content_text(message.get("content")))
            if found:
                return found[-1]
    return None


def system_instruction_text(value: Any) -> str:
    """The text of a Gemini ``systemInstruction`` (a string, or ``{"parts": [{"text"}]}``) to prepend to the prompt.

    Spec §5.2: instructions that look like agent or tool scaffolding (longer
    than 1200 characters, ``<tools>`` blocks, function-calling boilerplate,
    JSON-schema markers) are dropped, since they would only pollute a media prompt.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict):
        text = "\n".join(p.get("text", "") for p in value.get("parts") or () if isinstance(p, dict)
                         and isinstance(p.get("text"), str))
    else:
        return ""
    text = text.strip()
    if len(text) > MAX_SYSTEM_INSTRUCTION_CHARS or _SCAFFOLDING.search(text):
        log.debug("systemInstruction dropped: looks like tool scaffolding (%d chars)", len(text))
        return ""
    return text


@dataclass(frozen=True, slots=True)
class GeminiInput:
    """What the last user ``contents`` item says: prompt text, and images as inline bytes or URIs in order."""

    prompt: str
    images: tuple[InputImage | str, ...]


def gemini_input(body: dict[str, Any], *, max_bytes: int = MAX_IMAGE_BYTES) -> GeminiInput:
    """Read ``contents[]`` (last ``user`` item) and ``systemInstruction`` of a Gemini request (spec §5.2).

    Parts: ``text``; ``inlineData {mimeType, data}`` (images only, decoded here);
    ``fileData {fileUri, mimeType}`` (returned as the URI, fetched by the caller).
    snake_case spellings are accepted too. Raises ``InvalidRequestError`` for a
    malformed body, a non-image inline part or an empty prompt.
    """
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise InvalidRequestError("'contents' must be a non-empty list.")
    users = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
    if not users:
        raise InvalidRequestError("'contents' has no user turn.")
    parts = users[-1].get("parts")
    if not isinstance(parts, list):
        raise InvalidRequestError("'contents[].parts' must be a list.")
    texts: list[str] = []
    images: list[InputImage | str] = []
    for i, part in enumerate(parts):
        param = f"contents.parts[{i}]"
        if not isinstance(part, dict):
            raise InvalidRequestError("Each part must be an object.", param=param)
        inline = part.get("inlineData") or part.get("inline_data")
        file_data = part.get("fileData") or part.get("file_data")
        if isinstance(part.get("text"), str):
            if not part.get("thought"):
                texts.append(part["text"])
        elif isinstance(inline, dict):
            mime = inline.get("mimeType") or inline.get("mime_type") or ""
            if mime and not str(mime).startswith("image/"):
                raise InvalidRequestError(f"Only image inlineData is accepted, not {mime}.", param=param)
            images.append(decode_base64_image(str(inline.get("data") or ""), param=param, max_bytes=max_bytes))
        elif isinstance(file_data, dict):
            uri = file_data.get("fileUri") or file_data.get("file_uri")
            if not isinstance(uri, str) or not uri:
                raise InvalidRequestError("fileData needs a fileUri.", param=param)
            images.append(uri)
        else:
            raise InvalidRequestError("Parts must be text, inlineData or fileData.", param=param)
    system = system_instruction_text(body.get("systemInstruction") or body.get("system_instruction"))
    prompt = "\n".join(t for t in texts if t.strip()).strip()
    if not prompt:
        raise InvalidRequestError("The last user turn has no text prompt.")
    if system:
        prompt = f"{system}\n\n{prompt}"
    return GeminiInput(prompt=prompt, images=tuple(images))


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


async def read_form(request: web.Request) -> tuple[MultiDictProxy[str | web.FileField], dict[str, Any]]:
    """A multipart or urlencoded body: the whole form, and its plain text fields as a dict.

    Raises ``PayloadTooLargeError`` (413) past the server's body limit and
    ``InvalidRequestError`` (400) for a body that is not a well-formed form.
    """
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError("The request body is larger than the server accepts") from None
    except (ValueError, BadHttpMessage):  # no or wrong boundary, invalid UTF-8, a part without headers
        raise InvalidRequestError("The form body could not be parsed (check the multipart boundary and encoding).") from None
    return form, {k: v for k, v in form.items() if isinstance(v, str)}
