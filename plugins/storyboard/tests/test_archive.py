"""The storyboard ZIP's thread bridge (:mod:`flow2api_storyboard.archive`): zipstream-ng pulls each member's chunks
from the event loop into a thread of the download's own. A download cancelled while that thread waits for a chunk
lets the read end before anything is closed (closing a member mid-read would fail), and parallel downloads never
wait on the default executor, which the local store's reads need (two of its threads for six downloads here)."""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp.test_utils import TestClient
from storyboard_helpers import approved_board, auth, gateway
from zipstream import ZIP_STORED, ZipStream

from flow2api.plugin import MediaChunks
from flow2api_storyboard.archive import _Pull, zip_chunks


async def test_a_download_cancelled_mid_chunk_waits_for_the_read_then_closes_cleanly() -> None:
    reading, release, closed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncGenerator[bytes, None]:
        try:
            yield b"a" * 10
            reading.set()
            await release.wait()  # the thread waits in next() while this read is under way
            yield b"b" * 10
        finally:
            closed.set()

    source = MediaChunks("slow.png", 20, "image/png", slow())
    stream = ZipStream(compress_type=ZIP_STORED, sized=False)
    stream.add(_Pull(source, asyncio.get_running_loop()), "slow.png", size=20)

    async def consume() -> None:
        async with source:  # as stream_zip closes its members: after the ZIP's generator
            async with asyncio.timeout(30):
                chunks = zip_chunks(stream)
                try:
                    async for _chunk in chunks:
                        pass
                finally:
                    await chunks.aclose()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(reading.wait(), 10)
    task.cancel()
    await asyncio.sleep(0.2)
    assert not task.done()  # waiting for the chunk under way before closing anything
    release.set()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)
    assert task.cancelled()  # not a RuntimeError from closing a generator that is still running
    assert closed.is_set()


async def download_bytes(client: TestClient, sb_id: str) -> bytes:
    async with client.get(f"/v1/storyboards/{sb_id}/download", headers=auth()) as response:
        assert response.status == 200
        return await response.read()


async def test_parallel_downloads_do_not_wait_on_the_default_executor(tmp_path: Path, aiohttp_client: Callable) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024)  # past the recent set: read from the file
    client = await gateway(tmp_path, aiohttp_client, data)
    board = await approved_board(client)
    # the local store reads each chunk in a default-executor thread: a ZIP made there too would hold both threads
    # waiting for a read that needs a third
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=2))
    async with asyncio.timeout(60):
        bodies = await asyncio.gather(*(download_bytes(client, board["id"]) for _ in range(6)))
    for body in bodies:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert archive.read(archive.infolist()[0]) == data
