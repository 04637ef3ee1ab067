"""A stored media file opened for reading in chunks: :class:`MediaChunks`.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports it). The media store builds one
(:meth:`flow2api.media.MediaStore.open_chunks`, a local file or an S3 object); a workflow gets one from
``ImageJobs.open_media`` (:mod:`flow2api.plugin.workflow`) to send a big file on (a download) without
holding it whole in memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType


class MediaChunks:
    """One stored file's bytes, in order, one chunk at a time.

    ``name`` is the file as served under ``/media/<name>``, ``size`` its length in bytes as the store
    reported it when the file was opened, ``mime_type`` the type its name's extension stands for.
    ``async for chunk in chunks`` gives non-empty ``bytes`` of at most the ``chunk_size`` the file was
    opened with (a chunk may be shorter than that before the last one: an S3 body gives what the network
    delivered); their concatenation is the file. One pass only.

    Nothing is held before the first chunk is asked for, so a caller may open several files first and
    read them one after another (the storyboard ZIP opens every member before the first byte). The file
    handle, or the S3 connection, is released when the chunks run out, when reading fails, and by
    :meth:`aclose` (``async with`` calls it) when the consumer stops early: call it whenever iteration
    may stop before the end. Not while a chunk is being read in another task (an async generator's rule).

    Reading raises ``OSError`` when the backend fails, or when the file was deleted, evicted or expired
    between opening and the first chunk (``FileNotFoundError`` in the local directory, the S3 code
    ``NoSuchKey`` in the message).
    """

    __slots__ = ("_chunks", "mime_type", "name", "size")

    def __init__(self, name: str, size: int, mime_type: str, chunks: AsyncGenerator[bytes, None]) -> None:
        self.name, self.size, self.mime_type = name, size, mime_type
        self._chunks = chunks

    def __aiter__(self) -> MediaChunks:
        return self

    async def __anext__(self) -> bytes:
        """The next chunk; ``StopAsyncIteration`` after the last one."""
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Release what an unfinished read holds (nothing when it never began or ran out); never raises for that."""
        await self._chunks.aclose()

    async def __aenter__(self) -> MediaChunks:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"MediaChunks({self.name!r}, size={self.size}, mime_type={self.mime_type!r})"
