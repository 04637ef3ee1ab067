"""Turning client input into a prompt and input images (spec §5.2), shared by the surfaces.

Images arrive as ``data:image/…;base64,…`` URIs or ``http(s)://`` URLs; both
are checked (size, real image type by magic bytes) before a provider sees them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import aiohttp

from flow2api.errors import InvalidRequestError, PayloadTooLargeError
from flow2api.media.types import sniff_mime
from flow2api.plugin import InputImage

MAX_IMAGE_BYTES = 20 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"})


def decode_image(data: bytes, *, param: str) -> InputImage:
    """Check raw image bytes (≤ 20 MiB, PNG/JPEG/WebP/GIF/BMP by magic bytes) → :class:`InputImage`."""
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLargeError(f"An input image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB.", param=param)
    mime = sniff_mime(data)
    if mime not in IMAGE_TYPES:
        raise InvalidRequestError("An input image is not a PNG, JPEG, WebP, GIF or BMP image.", param=param)
    return InputImage(data=data, mime_type=mime)


def decode_data_uri(uri: str, *, param: str) -> InputImage:
    """Decode ``data:image/<type>;base64,<data>``; 400 for another scheme, bad base64 or a non-image."""
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidRequestError("Image data URIs must look like data:image/png;base64,<data>.", param=param)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("An image data URI is not valid base64.", param=param) from None
    return decode_image(data, param=param)


async def fetch_image(http: aiohttp.ClientSession, url: str, *, param: str) -> InputImage:
    """Download an ``http(s)`` image URL (≤ 20 MiB, 30 s); 400 when it cannot be fetched or is not an image."""
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
            if resp.status >= 400:
                raise InvalidRequestError(f"Fetching an input image URL failed with HTTP {resp.status}.", param=param)
            data = await resp.content.read(MAX_IMAGE_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError):
        raise InvalidRequestError("An input image URL could not be fetched.", param=param) from None
    return decode_image(data, param=param)


async def image_from_url(http: aiohttp.ClientSession, url: str, *, param: str) -> InputImage:
    """An input image from a data URI or an http(s) URL; other schemes → 400."""
    if url.startswith("data:"):
        return decode_data_uri(url, param=param)
    if url.startswith(("http://", "https://")):
        return await fetch_image(http, url, param=param)
    raise InvalidRequestError("Image URLs must be data: URIs or http(s) URLs.", param=param)


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
