"""The local backend of the media store: a directory (``[cache] backend = "local"``, the default).

Files are written ``0600`` in a ``0700`` directory. The size cap evicts the
least recently used files (written or served) on every store, never the file
just stored; the recency index lives in memory (names, sizes, last use),
rebuilt from the directory at start-up with modification times as last use.
Small results are written in batches by :class:`~flow2api.media.files.BatchedFileWriter`;
big ones are streamed to ``.<name>.part`` and renamed into place. Input images of
queued jobs live in ``inputs/<task id>/`` below the directory, outside the index. Several
instances may share the directory (e.g. over NFS); each keeps its own index,
so the cap is then enforced per instance for what it knows (docs/media.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from flow2api.media.cache import EMPTY_SUFFIX, SMALL_BYTES, MediaStore, Upload, valid_name
from flow2api.media.files import BatchedFileWriter, open_private, private_dir, read_chunks, write_atomic
from flow2api.media.signing import UrlSigner
from flow2api.plugin import MediaChunks

log = logging.getLogger(__name__)

SMALL_FILE_BYTES = 256 * 1024  # served from one threaded read rather than FileResponse
INPUTS = "inputs"  # input images of queued jobs: a subdirectory, skipped by the index and the sweep (not a file)


class _FileUpload(Upload):
    """A big result streamed to ``.<name>.part`` and renamed into place by :meth:`finish`."""

    def __init__(self, directory: Path, name: str) -> None:
        self._tmp = directory / f".{name}.part"
        self._final = directory / name
        self._fh: BinaryIO = open_private(self._tmp)

    async def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)  # buffered by the file object: one system call per few chunks

    async def finish(self) -> None:
        self._fh.close()
        os.replace(self._tmp, self._final)

    async def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


class MediaCache(MediaStore):
    """The cache directory.

    ``key_file`` holds the HMAC key for signed URLs (created on first use, mode
    0600, default ``<directory>/../media.key``); see :attr:`signer`.
    """

    backend = "local"

    def __init__(self, directory: Path, *, ttl: float = 0.0, max_bytes: int = 0, key_file: Path | None = None) -> None:
        super().__init__(ttl=ttl, max_bytes=max_bytes)
        self.directory = directory
        self._key_file = key_file or directory.parent / "media.key"
        self._signer: UrlSigner | None = None
        self._index: OrderedDict[str, int] = OrderedDict()  # name → size, least recently used first
        self._total = 0
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

    async def _put(self, name: str, data: bytes) -> None:
        if len(data) <= SMALL_BYTES:  # written with the others of its batch, one worker-thread call
            await self.files.write(name, data)
        else:
            await asyncio.to_thread(write_atomic, self.directory, name, data)

    async def _begin(self, name: str, mime_type: str) -> Upload:
        return _FileUpload(self.directory, name)

    def _inputs_of(self, task_id: str) -> Path:
        return self.directory / INPUTS / task_id

    async def put_input(self, task_id: str, name: str, data: bytes) -> None:
        def write() -> None:
            private_dir(self.directory / INPUTS)
            write_atomic(private_dir(self._inputs_of(task_id)), name, data)

        await asyncio.to_thread(write)

    async def read_input(self, task_id: str, name: str) -> bytes | None:
        try:
            return await asyncio.to_thread((self._inputs_of(task_id) / name).read_bytes)
        except FileNotFoundError:
            return None

    async def delete_inputs(self, task_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._inputs_of(task_id), True)

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

    def _touch(self, name: str) -> None:
        with self._lock:
            if name in self._index:
                self._index.move_to_end(name)

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
        if self.expired(stat.st_mtime):
            return None
        if touch:
            self._touch(name)
        return path

    async def _read(self, name: str) -> bytes | None:
        path = self.path_for(name)
        if path is None:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def _open_chunks(self, name: str, chunk_size: int) -> MediaChunks | None:
        """The size from the index (a ``stat`` for a file another instance wrote); each chunk one threaded read."""
        path = self.path_for(name)
        if path is None:
            return None
        size = self.size_of(name)
        if size is None:
            try:
                size = (await asyncio.to_thread(path.stat)).st_size
            except FileNotFoundError:
                return None
        return MediaChunks(name, size, self.mime_for(name), read_chunks(path, chunk_size))

    async def _respond(
        self, request: web.BaseRequest, name: str, headers: Mapping[str, str],
    ) -> web.StreamResponse | None:
        """Files up to 256 KiB from one threaded read, others (and ``Range``/HEAD requests) through
        ``FileResponse``, which honours ranges and uses ``sendfile``."""
        path = self.path_for(name)
        if path is None:
            return None
        size = self.size_of(name)
        if EMPTY_SUFFIX.match(request.headers.get("Range", "")):
            if size is None:
                size = (await asyncio.to_thread(path.stat)).st_size
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        if size is not None and size <= SMALL_FILE_BYTES and request.method == "GET" and "Range" not in request.headers:
            # FileResponse costs two executor round trips and sendfile set-up; for an image one threaded read is
            # cheaper: -15 % server CPU per generated image at 50 clients (docs/performance.md, hot path).
            try:
                body = await asyncio.to_thread(path.read_bytes)
            except FileNotFoundError:
                return None
            return web.Response(body=body, headers={**headers, "Accept-Ranges": "bytes"})  # ranges: FileResponse
        return web.FileResponse(path, headers=headers)

    def expires_at(self, name: str) -> float | None:
        """Unix time the file expires (by TTL), or ``None`` when it is kept forever or unknown (blocking)."""
        if not self.ttl or not valid_name(name):
            return None
        try:
            return (self.directory / name).stat().st_mtime + self.ttl
        except FileNotFoundError:
            return None

    async def expiry(self, name: str) -> float | None:
        return self.expires_at(name)  # one stat: cheaper than a thread hop

    def remove(self, name: str) -> bool:
        """Delete one file; True when it existed (blocking)."""
        if not valid_name(name):
            return False
        self._forget(name)
        try:
            (self.directory / name).unlink()
        except FileNotFoundError:
            return False
        return True

    async def delete(self, name: str) -> bool:
        return self.remove(name)

    def purge_expired(self) -> int:
        """Delete files older than the TTL; returns how many were deleted (blocking)."""
        if not self.ttl:
            return 0
        removed = 0
        for path in self.directory.iterdir():
            try:
                if path.is_file() and self.expired(path.stat().st_mtime):
                    path.unlink()
                    self._forget(path.name)
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("media cache: %d expired files removed", removed)
        return removed

    async def sweep(self) -> int:
        return await asyncio.to_thread(self.purge_expired)
