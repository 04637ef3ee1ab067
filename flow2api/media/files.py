"""Writing result files and naming them: the file-system side of :class:`~flow2api.media.cache.MediaCache`.

* :class:`BatchedFileWriter` — small results written by one worker-thread call
  per batch (every result stored while the previous batch was being written),
  each through a temporary ``.<name>.part`` file renamed into place. Under load
  this replaced an ``open()`` per image on the event loop, which took ~1 ms of
  its time with other threads holding the GIL (issue 8, docs/performance.md).
* :class:`TokenSource` — unguessable file names without a system call each.
* :func:`open_private` / :func:`private_dir` — files ``0600`` in directories ``0700`` whatever the umask:
  results and inputs are the callers' (issue 18).
* :func:`read_chunks` — a file read back in chunks, one worker-thread read each (downloads of big files).
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing and make it ``0700``; returns ``path``. Blocking; ``OSError``."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is masked by the umask, and an existing directory keeps its own
    return path


def open_private(path: Path) -> BinaryIO:
    """``path`` opened for writing (created or truncated) with mode ``0600``, not the umask's ``0644``."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "wb")


async def read_chunks(path: Path, chunk_size: int) -> AsyncGenerator[bytes, None]:
    """The bytes of ``path`` in chunks of ``chunk_size`` (the last one shorter), each read in a worker thread.

    The file is opened on the first chunk and closed after the last, on an error and on ``aclose()``; an
    open file keeps its bytes readable even if the file is deleted meanwhile (POSIX). ``OSError``
    (``FileNotFoundError`` when it is gone before the first chunk).
    """
    file = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, chunk_size):
            yield chunk
    finally:
        file.close()


def write_atomic(directory: Path, name: str, data: bytes) -> None:
    """Write ``data`` to ``directory/name`` through ``.<name>.part`` and a rename (never seen half-written).

    Blocking; raises ``OSError``.
    """
    tmp = directory / f".{name}.part"
    with open_private(tmp) as fh:
        fh.write(data)
    os.replace(tmp, directory / name)


class BatchedFileWriter:
    """Writes files into ``directory`` in batches, off the event loop; :meth:`write` returns once its file is on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._unwritten: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, name: str, data: bytes) -> None:
        """Write ``data`` as ``name`` with the next batch; raises that file's ``OSError``."""
        done = asyncio.get_running_loop().create_future()
        self._unwritten.append((name, data, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_unwritten(), name="media-cache-writer")
        await asyncio.shield(done)

    async def _write_unwritten(self) -> None:
        while self._unwritten:
            batch, self._unwritten = self._unwritten, []
            try:
                outcomes = await asyncio.to_thread(self.write_all, [(name, data) for name, data, _ in batch])
            except BaseException as exc:  # no thread to write with (shutting down): nobody may wait forever
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else OSError("media writer stopped"))
                raise
            for (_, _, done), error in zip(batch, outcomes):
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    def write_all(self, files: list[tuple[str, bytes]]) -> list[OSError | None]:
        """Write every ``(name, data)`` (blocking, in the calling thread); each file's error or ``None``, in order."""
        outcomes: list[OSError | None] = []
        for name, data in files:
            try:
                write_atomic(self.directory, name, data)
                outcomes.append(None)
            except OSError as exc:
                outcomes.append(exc)
        return outcomes


class TokenSource:
    """Unguessable URL-safe names (24 characters, 144 bits) from ``os.urandom`` read 4 KiB at a time.

    ``secrets.token_urlsafe`` makes one ``getrandom`` system call per name; on a busy server each
    call also waits to get the GIL back (~80 µs measured, issue 8). The bytes are the same kernel
    CSPRNG output, each used once; the server never forks, so no copy of the buffer is shared.
    """

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._pool = b""
        self._lock = threading.Lock()  # store_bytes runs on the loop, but nothing forbids a thread

    def take(self, nbytes: int = 18) -> str:
        """``nbytes`` fresh random bytes, URL-safe base64 without padding."""
        with self._lock:
            if len(self._pool) < nbytes:
                self._pool = os.urandom(self._chunk)
            raw, self._pool = self._pool[:nbytes], self._pool[nbytes:]
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
