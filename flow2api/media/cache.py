"""Generated media on disk: stored from bytes or streamed from an upstream URL, expired by age, capped in size.

Files are named ``<random token><ext>``; the token is unguessable, so a media
URL is a capability (like upstream's signed URLs). Video bytes are streamed
to a temporary file and renamed into place, never held whole in memory.

Every result is cached (docs/media.md): a client never receives an upstream
URL that may expire before it is used. Two limits keep the directory bounded:

* ``ttl`` — seconds a file is kept after it was written (0 = forever); expired
  files are not served and are deleted by :meth:`MediaCache.purge_expired`.
* ``max_bytes`` — size cap (0 = none); storing a file past the cap evicts the
  least recently used files (written or served) first, never the file just stored.

The recency index lives in memory (names, sizes, last use), rebuilt from the
directory at start-up with modification times as last use.

Results up to 1 MiB (every image) are also kept in memory for a while (the
newest 32 MiB of them): a client fetches its image right after the answer,
and serving it from memory costs no file system call. Their files are written
in batches by :class:`~flow2api.media.files.BatchedFileWriter`, and
:meth:`MediaCache.store_bytes` returns only once the file is on disk, so a URL
in an answer survives a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential

from flow2api.errors import ProxyConnectError, UpstreamTimeoutError, UpstreamUnavailableError
from flow2api.plugin import PROXY_ERRORS
from flow2api.media.files import BatchedFileWriter, TokenSource, open_private, private_dir, write_atomic
from flow2api.media.signing import UrlSigner
from flow2api.media.types import MIME_BY_EXTENSION, extension_for, sniff_mime

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.[a-z0-9]{2,5}$")
CHUNK_BYTES = 256 * 1024
SMALL_BYTES = 1024 * 1024  # results up to this size are buffered in memory and kept in the recent set
RECENT_BYTES = 32 * 1024 * 1024  # memory for recently stored small results
RECENT_ENTRIES = 4096  # and at most this many of them (per-entry overhead is not in RECENT_BYTES)
FETCH_ATTEMPTS = 7  # tries of an upstream media GET answered 5xx or cut off: 0.25 + 0.5 + 1 + 1 + 1 + 1 s of waits at most
FIRST_RETRY_DELAY = 0.25  # seconds; each later wait doubles, up to 1 s


class _TransientFetchError(UpstreamUnavailableError):
    """A media fetch that failed in a way worth another try (5xx, connection error)."""


_TOKENS = TokenSource()


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A cached file: ``name`` (as served under ``/media/``), its MIME type and size in bytes."""

    name: str
    mime_type: str
    size: int


def valid_name(name: str) -> bool:
    """Whether ``name`` has the shape of a cache file name (token + extension); no path can pass."""
    return bool(_NAME.match(name))


class MediaCache:
    """The cache directory.

    ``ttl`` is seconds a file is kept (0 = forever); ``max_bytes`` the size cap
    (0 = none). Both are plain attributes, so a runtime settings change can
    update them. ``key_file`` holds the HMAC key for signed URLs (created on
    first use, mode 0600); see :attr:`signer`.
    """

    def __init__(self, directory: Path, *, ttl: float = 0.0, max_bytes: int = 0, key_file: Path | None = None) -> None:
        self.directory = directory
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._key_file = key_file or directory.parent / "media.key"
        self._signer: UrlSigner | None = None
        self._index: OrderedDict[str, int] = OrderedDict()  # name → size, least recently used first
        self._total = 0
        self._lock = threading.Lock()  # purge_expired runs in a worker thread (the app's media janitor)
        self._recent: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # name → (bytes, stored at), oldest first
        self._recent_total = 0
        self.files = BatchedFileWriter(directory)
        private_dir(directory)
        self._scan()

    @property
    def signer(self) -> UrlSigner:
        """The URL signer, its key loaded from (or created in) ``key_file`` on first use."""
        if self._signer is None:
            self._signer = UrlSigner.from_key_file(self._key_file)
        return self._signer

    @property
    def total_bytes(self) -> int:
        """Bytes of all files in the index."""
        return self._total

    def __len__(self) -> int:
        return len(self._index)

    def size_of(self, name: str) -> int | None:
        """Size in bytes of a cached file by its served name, from the index (no I/O); ``None`` if unknown."""
        return self._index.get(name)

    def _scan(self) -> None:
        found: list[tuple[float, str, int]] = []
        for path in self.directory.iterdir():
            if path.name.startswith("."):
                path.unlink(missing_ok=True)  # a .part left by a crash mid-download
                continue
            if valid_name(path.name) and path.is_file():
                stat = path.stat()
                found.append((stat.st_mtime, path.name, stat.st_size))
        for _, name, size in sorted(found):
            self._index[name] = size
            self._total += size

    def _new_name(self, mime_type: str) -> str:
        return _TOKENS.take() + extension_for(mime_type)

    def _admit(self, name: str, size: int) -> None:
        evicted: list[str] = []
        with self._lock:
            self._index[name] = size
            self._index.move_to_end(name)
            self._total += size
            while self.max_bytes and self._total > self.max_bytes and len(self._index) > 1:
                oldest = next(iter(self._index))
                if oldest == name:  # never the file just stored, even when it alone exceeds the cap
                    break
                self._total -= self._index.pop(oldest)
                self._drop_recent(oldest)
                evicted.append(oldest)
        for old in evicted:
            (self.directory / old).unlink(missing_ok=True)
        if evicted:
            log.info("media cache: %d least recently used files evicted (cap %d bytes)", len(evicted), self.max_bytes)

    def _forget(self, name: str) -> None:
        with self._lock:
            size = self._index.pop(name, None)
            if size is not None:
                self._total -= size
            self._drop_recent(name)

    def _drop_recent(self, name: str) -> None:
        entry = self._recent.pop(name, None)
        if entry is not None:
            self._recent_total -= len(entry[0])

    def _remember_recent(self, name: str, data: bytes) -> None:
        with self._lock:
            self._recent[name] = (data, time.time())
            self._recent_total += len(data)
            while self._recent and (self._recent_total > RECENT_BYTES or len(self._recent) > RECENT_ENTRIES):
                _, (old, _) = self._recent.popitem(last=False)
                self._recent_total -= len(old)

    def recent_bytes(self, name: str) -> bytes | None:
        """The bytes of a recently stored small result still held in memory and not expired, else ``None``.

        No I/O; counts as a use (LRU order). ``None`` says nothing about the
        file: use :meth:`path_for` then.
        """
        entry = self._recent.get(name)
        if entry is None:
            return None
        data, stored_at = entry
        if self.ttl and stored_at + self.ttl < time.time():
            return None
        with self._lock:
            if name in self._index:
                self._index.move_to_end(name)
        return data

    async def store_bytes(self, data: bytes, mime_type: str | None = None) -> StoredMedia:
        """Write ``data`` to a new file; the MIME type is sniffed when not given. Returns once the file is written.

        Results up to ``SMALL_BYTES`` are written with others in one worker-thread
        call and kept in the recent set; raises ``OSError`` when the file cannot be written.
        """
        mime = mime_type or sniff_mime(data) or "application/octet-stream"
        name = self._new_name(mime)
        if len(data) <= SMALL_BYTES:
            await self.files.write(name, data)
            self._remember_recent(name, data)
        else:
            await asyncio.to_thread(write_atomic, self.directory, name, data)
        self._admit(name, len(data))
        return StoredMedia(name, mime, len(data))

    async def store_url(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        mime_type: str | None = None,
        timeout: float = 300.0,
    ) -> StoredMedia:
        """Fetch ``url`` into a new file; returns what was stored.

        Up to ``SMALL_BYTES`` the body is buffered and stored as by :meth:`store_bytes`;
        a bigger one is streamed to a temporary file in chunks of 256 KiB and renamed into place.
        A 5xx answer or a broken connection is retried from the start (``FETCH_ATTEMPTS`` = 7 in all,
        0.25 s apart, doubling up to 1 s, with tenacity): the fetch comes after upstream made — and charged
        for — the media, so a failure here loses a paid result, and a GET of it is idempotent.

        Raises ``UpstreamUnavailableError`` for a 4xx answer, or a 5xx / connection
        error on every attempt, and ``UpstreamTimeoutError`` after ``timeout`` seconds, all attempts together (not retried). The URL is
        not part of the message (upstream media URLs are signed capabilities).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout  # for all attempts together
        try:
            # The first try outside tenacity: its machinery costs ~75 µs of CPU per call even when nothing is
            # retried, and every generated image comes through here (bench/hot_path.py).
            return await self._fetch(http, url, headers=headers, mime_type=mime_type, timeout=timeout)
        except _TransientFetchError as exc:
            log.info("media fetch failed (%s); retrying", exc.message)
        await asyncio.sleep(min(FIRST_RETRY_DELAY, max(0.0, deadline - loop.time())))
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_TransientFetchError),
            stop=stop_after_attempt(FETCH_ATTEMPTS - 1) | stop_after_delay(timeout),
            wait=wait_exponential(multiplier=2 * FIRST_RETRY_DELAY, max=1), reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise UpstreamTimeoutError("fetching the generated media timed out")
                return await self._fetch(http, url, headers=headers, mime_type=mime_type, timeout=remaining)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _fetch(
        self, http: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str] | None, mime_type: str | None,
        timeout: float,
    ) -> StoredMedia:
        tmp: Path | None = None  # named only for a result too big for memory
        size = 0
        first = b""
        buffered: list[bytes] = []
        fh = None
        try:
            async with http.get(url, headers=dict(headers or {}), timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if resp.status >= 400:
                    error = _TransientFetchError if resp.status >= 500 else UpstreamUnavailableError
                    raise error(f"fetching the generated media failed with HTTP {resp.status}")
                mime = mime_type or (resp.content_type if resp.content_type != "application/octet-stream" else None)
                try:
                    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                        if not first:
                            first = chunk[:16]
                        size += len(chunk)
                        if fh is None:
                            if size <= SMALL_BYTES:
                                buffered.append(chunk)
                                continue
                            # Past the small limit: a video, streamed to disk from here on, never held whole.
                            tmp = self.directory / f".{secrets.token_hex(8)}.part"
                            fh = open_private(tmp)
                            fh.writelines(buffered)
                            buffered = []
                        fh.write(chunk)
                finally:
                    if fh is not None:
                        fh.close()
            mime = sniff_mime(first) or mime or "application/octet-stream"
            if fh is None:
                return await self.store_bytes(b"".join(buffered), mime)
            name = self._new_name(mime)
            assert tmp is not None
            os.replace(tmp, self.directory / name)
            self._admit(name, size)
            return StoredMedia(name, mime, size)
        except PROXY_ERRORS as exc:
            raise ProxyConnectError(
                f"the proxy could not be used to fetch the generated media: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            raise UpstreamTimeoutError("fetching the generated media timed out") from exc
        except aiohttp.ClientError as exc:
            raise _TransientFetchError(f"fetching the generated media failed: {type(exc).__name__}") from exc
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)  # left only when something failed before the rename

    def path_for(self, name: str, *, touch: bool = True) -> Path | None:
        """The file for a served ``name``, or ``None`` when the name is malformed, unknown or expired.

        ``touch`` marks the file as recently used (LRU order).
        """
        if not valid_name(name):
            return None
        path = self.directory / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._forget(name)
            return None
        if self.ttl and stat.st_mtime + self.ttl < time.time():
            return None
        if touch:
            with self._lock:
                if name in self._index:
                    self._index.move_to_end(name)
        return path

    async def read_bytes(self, name: str) -> bytes | None:
        """The whole file (for inline images and chat-history inputs), or ``None`` when unknown or expired."""
        recent = self.recent_bytes(name) if valid_name(name) else None
        if recent is not None:
            return recent
        path = self.path_for(name)
        if path is None:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    def expires_at(self, name: str) -> float | None:
        """Unix time the file expires (by TTL), or ``None`` when it is kept forever or unknown."""
        if not self.ttl or not valid_name(name):
            return None
        try:
            return (self.directory / name).stat().st_mtime + self.ttl
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> bool:
        """Delete one file (a deleted video job); True when it existed."""
        if not valid_name(name):
            return False
        self._forget(name)
        try:
            (self.directory / name).unlink()
        except FileNotFoundError:
            return False
        return True

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
                    self._forget(path.name)
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("media cache: %d expired files removed", removed)
        return removed
