"""Turning client input into a prompt and input images (spec §5.2), shared by the surfaces.

Images arrive as ``data:image/…;base64,…`` URIs, ``http(s)://`` URLs,
multipart uploads or Gemini ``inlineData``; every one is checked (size ≤
``[generation] max_input_image_bytes``, real image type by magic bytes) before
a provider sees it. URLs of flow2api's own media (``…/media/<name>``) are read
from the media cache, never fetched over HTTP (no self-call, works behind any
reverse proxy).

Which images a request carries is its typed model's business
(:mod:`flow2api.api.schemas`); this module turns them into bytes, within
``[inputs] max_request_bytes`` for the whole request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
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
from flow2api.limits import IN_FLIGHT_TICKET, InFlightTicket
from flow2api.media import MEDIA, MediaStore
from flow2api.media.types import sniff_mime
from flow2api.plugin import InputImage
from flow2api.proxies import HTTP_SESSIONS
from flow2api.settings import SETTINGS

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_REQUEST_BYTES = 48 * 1024 * 1024
PARALLEL_FETCHES = 4  # input URLs of one request fetched at once
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})


def _checked(data: bytes, *, param: str, max_bytes: int, what: str, types: frozenset[str], named: str) -> InputImage:
    """``data`` as an :class:`InputImage` when it is at most ``max_bytes`` and its magic bytes are one of
    ``types``; else ``PayloadTooLargeError`` (413) or ``InvalidRequestError`` (400) naming ``param``, the message
    starting with ``what`` ("An input image") and saying ``named`` (the accepted types in words)."""
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"{what} is larger than {max_bytes // 1024} KiB.", param=param)
    mime = sniff_mime(data)
    if mime not in types:
        raise InvalidRequestError(f"{what} is not {named}.", param=param)
    return InputImage(data=data, mime_type=mime)


def _data_uri_payload(uri: str, *, param: str, message: str) -> str:
    """The base64 part of ``data:<type>;base64,<data>``; ``InvalidRequestError(message)`` (400) for another form."""
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidRequestError(message, param=param)
    return payload


def decode_image(data: bytes, *, param: str, max_bytes: int = MAX_IMAGE_BYTES) -> InputImage:
    """Check raw image bytes (≤ ``max_bytes``, PNG/JPEG/WebP/GIF/BMP by magic bytes) → :class:`InputImage`.

    Raises ``PayloadTooLargeError`` (413) or ``InvalidRequestError`` (400) naming ``param``.
    """
    return _checked(data, param=param, max_bytes=max_bytes, what="An input image", types=IMAGE_TYPES,
                    named="a PNG, JPEG, WebP, GIF or BMP image")


def _base64_bytes(payload: str, *, param: str, max_bytes: int, what: str = "An input image") -> bytes:
    """Base64 (standard or URL-safe alphabet) → bytes; 413 past ``max_bytes``, 400 for bad base64."""
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise PayloadTooLargeError(f"{what} is larger than {max_bytes // 1024} KiB.", param=param)
    try:
        return base64.b64decode(payload, altchars=b"-_" if ("-" in payload or "_" in payload) else None, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(f"{what} is not valid base64.", param=param) from None


def decode_base64_image(payload: str, *, param: str, max_bytes: int = MAX_IMAGE_BYTES) -> InputImage:
    """Decode base64 (standard or URL-safe alphabet) image bytes; 400 for bad base64 or a non-image."""
    return decode_image(_base64_bytes(payload, param=param, max_bytes=max_bytes), param=param, max_bytes=max_bytes)


def decode_video(data: bytes | str, *, param: str, max_bytes: int) -> InputImage:
    """An uploaded source video: raw bytes, or a ``data:video/<type>;base64,…`` URI (JSON bodies) → :class:`InputImage`.

    MP4, QuickTime or WebM by magic bytes (the types flow.google.com's upload takes, spec §14.2), at most
    ``max_bytes``. Raises ``PayloadTooLargeError`` (413) or ``InvalidRequestError`` (400) naming ``param``.
    """
    if isinstance(data, str):
        payload = _data_uri_payload(data, param=param, message="A video in JSON must be a data URI "
                                    '(data:video/mp4;base64,<data>) or {"id": "<video id>"}.')
        data = _base64_bytes(payload, param=param, max_bytes=max_bytes, what="The video")
    return _checked(data, param=param, max_bytes=max_bytes, what="The video", types=VIDEO_TYPES,
                    named="an MP4, MOV or WebM file")


def decode_data_uri(uri: str, *, param: str, max_bytes: int = MAX_IMAGE_BYTES) -> InputImage:
    """Decode ``data:image/<type>;base64,<data>``; 400 for another scheme, bad base64 or a non-image."""
    payload = _data_uri_payload(uri, param=param, message="Image data URIs must look like data:image/png;base64,<data>.")
    return decode_base64_image(payload, param=param, max_bytes=max_bytes)


@dataclass(frozen=True, slots=True)
class ImageReader:
    """Reads input images for one request: ``fetcher`` downloads URLs, ``proxy()`` the proxy session to send
    them through (``None``: direct; asked only when a URL is fetched, so a request without one opens no
    session), ``media`` serves our own, ``max_bytes`` caps each, ``max_total`` all of one request together;
    images not in the body (URLs, our media) are charged to ``ticket``, the request's share of the in-flight
    memory budget (:class:`flow2api.limits.InFlightLimit`), before they are read."""

    fetcher: GuardedFetcher
    proxy: Callable[[], aiohttp.ClientSession | None]
    media: MediaStore
    max_bytes: int = MAX_IMAGE_BYTES
    max_total: int = MAX_REQUEST_BYTES
    ticket: InFlightTicket | None = None

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

    async def read_all(self, items: Sequence[tuple[InputImage | str, str]]) -> list[InputImage]:
        """``(image or URL, param)`` pairs → images in the same order; the URLs are read concurrently (at most
        :data:`PARALLEL_FETCHES` at once). The first failure (400/413 naming its ``param``) is raised and the
        other reads are cancelled; so is a 413 as soon as the images together pass ``max_total``."""
        gate = asyncio.Semaphore(PARALLEL_FETCHES)
        total = 0

        async def one(item: InputImage | str, param: str) -> InputImage:
            nonlocal total
            if isinstance(item, InputImage):
                image = item
            else:
                async with gate:
                    image = await self.from_url(item, param=param)
            total += len(image.data)
            self.check_total(total, param)
            return image

        outside = [item for item, _ in items if isinstance(item, str) and not item.startswith("data:")]
        charged = min(len(outside) * self.max_bytes, self.max_total) if outside and self.ticket else 0
        if charged:
            self.ticket.charge(charged)  # 429 when the process is at its memory budget
        try:
            if sum(not isinstance(item, InputImage) for item, _ in items) <= 1:
                images = [await one(item, param) for item, param in items]
            else:
                try:
                    async with asyncio.TaskGroup() as group:
                        tasks = [group.create_task(one(item, param)) for item, param in items]
                except ExceptionGroup as failed:
                    raise failed.exceptions[0] from None
                images = [task.result() for task in tasks]
        except BaseException:
            if charged:
                self.ticket.refund(charged)
            raise
        if charged:
            kept = sum(len(image.data) for image, (item, _) in zip(images, items, strict=True)
                       if isinstance(item, str) and not item.startswith("data:"))
            self.ticket.refund(charged - kept)
        return images

    def check_total(self, total: int, param: str) -> None:
        """413 naming ``param`` when ``total`` decoded input bytes pass ``[inputs] max_request_bytes``."""
        if total > self.max_total:
            raise PayloadTooLargeError(
                f"The input images of this request together are larger than {self.max_total // 1024} KiB.",
                param=param)

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
    max_input_image_bytes`` each and ``[inputs] max_request_bytes`` together."""
    app = request.config_dict
    settings = app[SETTINGS].current
    proxy_url = settings.global_proxy_url if settings.inputs.use_proxy else None
    proxy = partial(app[HTTP_SESSIONS].get, proxy_url) if proxy_url else _direct
    return ImageReader(app[FETCHER], proxy, app[MEDIA], settings.generation.max_input_image_bytes,
                       settings.inputs.max_request_bytes, request.get(IN_FLIGHT_TICKET))


def _direct() -> None:
    return None


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
