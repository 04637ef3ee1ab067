"""The media store's one interface, and what both backends share: naming, the recent set, streaming from upstream.

:class:`MediaStore` is what the rest of the code holds (``app[MEDIA]``); it
does not know where the bytes live. Two backends implement it:
:class:`~flow2api.media.local.MediaCache` (a directory — today's default, and
one a set of instances may share) and :class:`~flow2api.media.s3.S3MediaStore`
(an S3-compatible bucket). docs/media.md and docs/deployment.md describe both.

Files are named ``<random token><ext>``; the token is unguessable, so a media
URL is a capability (like upstream's signed URLs). Video bytes are streamed
into the backend (a temporary file renamed into place, or an S3 multipart
upload), never held whole in memory.

Every result is cached (docs/media.md): a client never receives an upstream
URL that may expire before it is used. Two limits keep the store bounded:

* ``ttl`` — seconds a file is kept after it was written (0 = forever); expired
  files are not served and are deleted by :meth:`MediaStore.sweep`.
* ``max_bytes`` — size cap (0 = none), enforced by each backend (docs/media.md).

Results up to 1 MiB (every image) are also kept in this instance's memory for
a while (the newest 32 MiB of them): a client fetches its image right after
the answer, and serving it from memory costs no I/O. :meth:`MediaStore.store_bytes`
returns only once the backend holds the file, so a URL in an answer survives a
restart (and works on every instance sharing the backend).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential

from flow2api.errors import ProxyConnectError, UpstreamTimeoutError, UpstreamUnavailableError
from flow2api.plugin import PROXY_ERRORS, MediaChunks
from flow2api.media.files import TokenSource
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
OCTET = "application/octet-stream"
# A suffix range of length 0 ("bytes=-0") selects no byte: unsatisfiable (RFC 9110 §14.1.2), but aiohttp's
# Request.http_range reads it as "from byte 0" and FileResponse would answer 206 with the whole file.
EMPTY_SUFFIX = re.compile(r"^\s*bytes\s*=\s*-0+\s*$", re.IGNORECASE | re.ASCII)


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


class Upload(abc.ABC):
    """One result too big for memory on its way into a backend: chunks in order, then finish or abort."""

    @abc.abstractmethod
    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raises ``OSError`` when the backend cannot take it."""

    @abc.abstractmethod
    async def finish(self) -> None:
        """Make the file visible under its name (never before: a half-written file is never served)."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop what was written; never raises."""


class MediaStore(abc.ABC):
    """Generated media, served under ``/media/<name>``; the interface both backends implement.

    ``ttl`` is seconds a file is kept (0 = forever); ``max_bytes`` the size cap
    (0 = none). Both are plain attributes read when used. Backend failures are
    ``OSError`` (a full disk, an unreachable bucket), with no secret in the message.
    """

    #: ``"local"`` or ``"s3"``, as in ``[cache] backend`` (shown by ``/health``)
    backend: str = ""

    def __init__(self, *, ttl: float = 0.0, max_bytes: int = 0) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # the local backend's sweep runs in a worker thread
        self._recent: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # name → (bytes, stored at), oldest first
        self._recent_total = 0

    # -- what each backend provides ------------------------------------------------------------

    @property
    @abc.abstractmethod
    def signer(self) -> UrlSigner:
        """The URL signer (its key shared by every instance on the same backend)."""

    @property
    @abc.abstractmethod
    def total_bytes(self) -> int:
        """Bytes of all files, as far as this instance knows (the S3 backend: as of its last sweep)."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Files in the store, as far as this instance knows."""

    async def start(self) -> None:
        """Connect (and load what the backend keeps, e.g. the signing key); ``OSError`` when unreachable."""

    async def close(self) -> None:
        """Release connections; the files stay."""

    @property
    def sweeps(self) -> bool:
        """Whether :meth:`sweep` has anything to enforce (the local backend caps on every write)."""
        return bool(self.ttl)

    @abc.abstractmethod
    async def sweep(self) -> int:
        """Delete expired files (and, where the backend caps in the background, the oldest past ``max_bytes``);
        returns how many were deleted."""

    @abc.abstractmethod
    async def expiry(self, name: str) -> float | None:
        """Unix time the file expires (by TTL), or ``None`` when it is kept forever or unknown."""

    @abc.abstractmethod
    async def delete(self, name: str) -> bool:
        """Delete one file (a deleted video job); True when it existed."""

    # Input images of queued jobs (flow2api.media.inputs): under "inputs/<task id>/" beside the media, never
    # served, swept or counted against the cap (not media names), so every instance on the backend reads them.

    @abc.abstractmethod
    async def put_input(self, task_id: str, name: str, data: bytes) -> None:
        """Store one input image of ``task_id`` as ``inputs/<task_id>/<name>`` (both checked by the caller);
        ``OSError`` on failure."""

    @abc.abstractmethod
    async def read_input(self, task_id: str, name: str) -> bytes | None:
        """The input image stored by :meth:`put_input`, or ``None`` when there is none; ``OSError`` on failure."""

    @abc.abstractmethod
    async def delete_inputs(self, task_id: str) -> None:
        """Delete every input image of ``task_id`` (none is fine); ``OSError`` on failure."""

    @abc.abstractmethod
    async def _put(self, name: str, data: bytes) -> None:
        """Store a small result whole; returns once it is durable."""

    @abc.abstractmethod
    async def _begin(self, name: str, mime_type: str) -> Upload:
        """Start streaming a big result into ``name``."""

    @abc.abstractmethod
    def _admit(self, name: str, size: int) -> None:
        """Account for a file just stored (size cap bookkeeping)."""

    @abc.abstractmethod
    def _touch(self, name: str) -> None:
        """Mark ``name`` as just used (the local backend's LRU order)."""

    @abc.abstractmethod
    async def _read(self, name: str) -> bytes | None:
        """The whole stored file, or ``None`` when unknown or expired."""

    @abc.abstractmethod
    async def _open_chunks(self, name: str, chunk_size: int) -> MediaChunks | None:
        """The stored file opened for :meth:`open_chunks` (its size known, nothing held yet), or ``None`` when
        unknown or expired."""

    @abc.abstractmethod
    async def _respond(
        self, request: web.BaseRequest, name: str, headers: Mapping[str, str],
    ) -> web.StreamResponse | None:
        """Answer ``GET``/``HEAD`` for a stored file (``Range`` honoured, 416 raised with ``Content-Range:
        bytes */<size>``, ``bytes=-0`` included); ``None`` when unknown or expired."""

    # -- shared ---------------------------------------------------------------------------------

    def expired(self, written_at: float) -> bool:
        """Whether a file written at ``written_at`` (Unix s) is past the TTL now."""
        return bool(self.ttl) and written_at + self.ttl < time.time()

    def _new_name(self, mime_type: str) -> str:
        return _TOKENS.take() + extension_for(mime_type)

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

        No I/O; counts as a use (LRU order). ``None`` says nothing about the file.
        """
        entry = self._recent.get(name)
        if entry is None:
            return None
        data, stored_at = entry
        if self.expired(stored_at):
            return None
        self._touch(name)
        return data

    @staticmethod
    def mime_for(name: str) -> str:
        """The MIME type of a stored file, from its extension."""
        return MIME_BY_EXTENSION.get(name[name.rfind("."):], OCTET) if "." in name else OCTET

    async def read_bytes(self, name: str) -> bytes | None:
        """The whole file (for inline images and chat-history inputs), or ``None`` when unknown or expired."""
        if not valid_name(name):
            return None
        recent = self.recent_bytes(name)
        return recent if recent is not None else await self._read(name)

    async def open_chunks(self, name: str, chunk_size: int = CHUNK_BYTES) -> MediaChunks | None:
        """The file opened for reading in chunks of at most ``chunk_size`` bytes (default 256 KiB), never whole in
        memory: a :class:`~flow2api.plugin.MediaChunks` (size, MIME type, the chunks; ``aclose`` when stopping
        early). ``None`` when the name is malformed, unknown or expired. Opening costs a ``stat`` (local) or a
        ``HeadObject`` (S3); the file (or S3 connection) is opened on the first chunk, so many may be opened and
        read one after another. ``OSError`` when the backend fails; ``ValueError`` for ``chunk_size`` < 1.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1 byte")
        if not valid_name(name):
            return None
        recent = self.recent_bytes(name)
        if recent is not None:  # just generated and still in memory: sliced, no I/O
            return MediaChunks(name, len(recent), self.mime_for(name), _slices(recent, chunk_size))
        return await self._open_chunks(name, chunk_size)

    async def respond(
        self, request: web.BaseRequest, name: str, headers: Mapping[str, str],
    ) -> web.StreamResponse | None:
        """The response for ``GET``/``HEAD`` of ``name`` with ``headers`` added, ranges honoured (206, 416);
        ``None`` when the name is malformed, unknown, expired or evicted (the caller says 404 its own way)."""
        if not valid_name(name):
            return None
        recent = self.recent_bytes(name)
        if recent is not None and request.method == "GET" and "Range" not in request.headers:
            # Just generated and still in memory: no I/O at all (the usual fetch right after the answer).
            return web.Response(body=recent, headers={**headers, "Accept-Ranges": "bytes"})
        return await self._respond(request, name, headers)

    async def store_bytes(self, data: bytes, mime_type: str | None = None) -> StoredMedia:
        """Store ``data`` under a new name; the MIME type is sniffed when not given. Returns once it is stored.

        Results up to ``SMALL_BYTES`` are also kept in the recent set; raises ``OSError`` when the
        backend cannot store it.
        """
        mime = mime_type or sniff_mime(data) or OCTET
        name = self._new_name(mime)
        await self._put(name, data)
        if len(data) <= SMALL_BYTES:
            self._remember_recent(name, data)
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
        a bigger one is streamed into the backend in chunks of 256 KiB (:class:`Upload`).
        A 5xx answer or a broken connection is retried from the start (``FETCH_ATTEMPTS`` = 7 in all,
        0.25 s apart, doubling up to 1 s, with tenacity): the fetch comes after upstream made — and charged
        for — the media, so a failure here loses a paid result, and a GET of it is idempotent.

        Raises ``UpstreamUnavailableError`` for a 4xx answer, or a 5xx / connection
        error on every attempt, and ``UpstreamTimeoutError`` after ``timeout`` seconds, all attempts together
        (not retried); ``OSError`` when the backend fails. The URL is not part of the message (upstream media
        URLs are signed capabilities).
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
        upload: Upload | None = None  # opened only for a result too big for memory
        name, size, first, buffered, finished = "", 0, b"", [], False
        try:
            async with http.get(url, headers=dict(headers or {}), timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if resp.status >= 400:
                    error = _TransientFetchError if resp.status >= 500 else UpstreamUnavailableError
                    raise error(f"fetching the generated media failed with HTTP {resp.status}")
                mime = mime_type or (resp.content_type if resp.content_type != OCTET else None)
                async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                    if not first:
                        first = chunk[:16]
                    size += len(chunk)
                    if upload is None:
                        if size <= SMALL_BYTES:
                            buffered.append(chunk)
                            continue
                        # Past the small limit: a video, streamed into the backend from here on, never held whole.
                        mime = sniff_mime(first) or mime or OCTET
                        name = self._new_name(mime)
                        upload = await self._begin(name, mime)
                        await upload.write(b"".join(buffered))
                        buffered = []
                    await upload.write(chunk)
            if upload is None:
                return await self.store_bytes(b"".join(buffered), sniff_mime(first) or mime or OCTET)
            await upload.finish()
            finished = True
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
            if upload is not None and not finished:
                await upload.abort()  # left only when something failed before the file was complete


async def _slices(data: bytes, chunk_size: int) -> AsyncGenerator[bytes, None]:
    for start in range(0, len(data), chunk_size):
        yield data[start:start + chunk_size]
