"""Generated media on disk: stored from bytes or streamed from an upstream URL, expired by age.

Files are named ``<random token><ext>``; the token is unguessable, so a media
URL is a capability (like upstream's signed URLs). Video bytes are streamed
to a temporary file and renamed into place, never held whole in memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from flow2api.errors import UpstreamTimeoutError, UpstreamUnavailableError
from flow2api.media.types import MIME_BY_EXTENSION, extension_for, sniff_mime

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.[a-z0-9]{2,5}$")
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A cached file: ``name`` (as served under ``/media/``), its MIME type and size in bytes."""

    name: str
    mime_type: str
    size: int


class MediaCache:
    """The cache directory. ``ttl`` is seconds a file is kept (0 = forever)."""

    def __init__(self, directory: Path, *, ttl: float = 0.0) -> None:
        self.directory = directory
        self.ttl = ttl
        directory.mkdir(parents=True, exist_ok=True)

    def _new_name(self, mime_type: str) -> str:
        return secrets.token_urlsafe(18) + extension_for(mime_type)

    async def store_bytes(self, data: bytes, mime_type: str | None = None) -> StoredMedia:
        """Write ``data`` to a new file; the MIME type is sniffed when not given."""
        mime = mime_type or sniff_mime(data) or "application/octet-stream"
        name = self._new_name(mime)
        await asyncio.to_thread(self._write_atomic, name, data)
        return StoredMedia(name, mime, len(data))

    def _write_atomic(self, name: str, data: bytes) -> None:
        tmp = self.directory / f".{name}.part"
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / name)

    async def store_url(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        mime_type: str | None = None,
        timeout: float = 300.0,
    ) -> StoredMedia:
        """Stream ``url`` to a new file in chunks of 256 KiB; returns what was stored.

        Raises ``UpstreamUnavailableError`` for a non-2xx answer or a connection
        error and ``UpstreamTimeoutError`` after ``timeout`` seconds. The URL is
        not part of the message (upstream media URLs are signed capabilities).
        """
        tmp = self.directory / f".{secrets.token_hex(8)}.part"
        size = 0
        try:
            async with http.get(url, headers=dict(headers or {}), timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if resp.status >= 400:
                    raise UpstreamUnavailableError(f"fetching the generated media failed with HTTP {resp.status}")
                mime = mime_type or (resp.content_type if resp.content_type != "application/octet-stream" else None)
                first = b""
                with open(tmp, "wb") as fh:
                    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                        if not first:
                            first = chunk[:16]
                        fh.write(chunk)
                        size += len(chunk)
            mime = sniff_mime(first) or mime or "application/octet-stream"
            name = self._new_name(mime)
            os.replace(tmp, self.directory / name)
            return StoredMedia(name, mime, size)
        except TimeoutError as exc:
            raise UpstreamTimeoutError("fetching the generated media timed out") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(f"fetching the generated media failed: {type(exc).__name__}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def path_for(self, name: str) -> Path | None:
        """The file for a served ``name``, or ``None`` when the name is malformed, unknown or expired."""
        if not _NAME.match(name):
            return None
        path = self.directory / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if self.ttl and stat.st_mtime + self.ttl < time.time():
            return None
        return path

    @staticmethod
    def mime_for(name: str) -> str:
        """The MIME type of a stored file, from its extension."""
        return MIME_BY_EXTENSION.get(Path(name).suffix, "application/octet-stream")

    def purge_expired(self) -> int:
        """Delete files older than the TTL; returns how many were deleted."""
        if not self.ttl:
            return 0
        cutoff = time.time() - self.ttl
        removed = 0
        for path in self.directory.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("media cache: %d expired files removed", removed)
        return removed
