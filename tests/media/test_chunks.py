"""Stored files read back in chunks (``MediaStore.open_chunks``), in the local directory and in an S3 bucket (moto's
server mode): the bytes come back whole in bounded chunks without the file ever in memory, unknown, malformed and
expired names are ``None``, and a read stopped early releases what it held — the file handle, or the S3 connection
(many reads abandoned after one chunk on a pool of two connections, then a whole read still works)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from flow2api.media import MediaCache, MediaStore
from flow2api.media.cache import SMALL_BYTES
from flow2api.plugin import MediaChunks
from flow2api.settings_media import CacheSection
from flow2api.testing.files import open_count

PNG = b"\x89PNG\r\n\x1a\n"
BIG = 40 * 1024 * 1024
CHUNK = 256 * 1024
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # botocore's utcnow


def payload(size: int) -> bytes:
    """``size`` bytes starting with a PNG signature, not compressible and not repetitive (a shifted chunk differs)."""
    return (PNG + os.urandom(size))[:size]


async def digest_of(chunks: MediaChunks, limit: int) -> tuple[str, int, int]:
    """sha256 of the chunks, how many, and the peak bytes Python allocated while reading them (tracemalloc)."""
    sha, count = hashlib.sha256(), 0
    tracemalloc.start()
    try:
        async for chunk in chunks:
            assert 0 < len(chunk) <= limit
            sha.update(chunk)
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return sha.hexdigest(), count, peak


@pytest.fixture
async def s3_store(s3_cache: dict[str, Any]) -> Any:
    """A started S3 backend on a fresh bucket with a pool of two HTTP connections (closed after the test)."""
    from flow2api.media.s3 import S3MediaStore

    store = S3MediaStore(CacheSection(**s3_cache), max_connections=2)
    await store.start()
    yield store
    await store.close()


async def test_a_big_local_file_is_read_back_in_chunks_never_whole(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media")
    data = payload(BIG)
    stored = await cache.store_bytes(data, "image/png")
    expected = hashlib.sha256(data).hexdigest()
    del data
    chunks = await cache.open_chunks(stored.name)
    assert isinstance(chunks, MediaChunks)
    assert (chunks.name, chunks.size, chunks.mime_type) == (stored.name, BIG, "image/png")
    sha, count, peak = await digest_of(chunks, CHUNK)
    assert sha == expected and count == BIG // CHUNK
    assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated reading a {BIG}-byte file"
    small = await cache.open_chunks(stored.name, chunk_size=1000)
    assert small is not None and len(await anext(small)) == 1000
    await small.aclose()
    with pytest.raises(ValueError):
        await cache.open_chunks(stored.name, chunk_size=0)


async def test_unknown_malformed_and_expired_names_open_nothing(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media", ttl=60)
    stored = await cache.store_bytes(payload(2 * SMALL_BYTES))  # not kept in memory: read from the file
    for name in ("../media.key", "nope", "A" * 20 + ".png", ".media.key"):
        assert await cache.open_chunks(name) is None, name
    past = time.time() - 61
    os.utime(cache.directory / stored.name, (past, past))
    assert await cache.open_chunks(stored.name) is None


async def test_a_recent_small_result_is_sliced_from_memory(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media")
    data = payload(100_000)
    stored = await cache.store_bytes(data)
    (cache.directory / stored.name).unlink()  # gone from the disk: only the recent set can answer
    chunks = await cache.open_chunks(stored.name, chunk_size=30_000)
    assert chunks is not None and chunks.size == len(data)
    assert [len(c) async for c in chunks] == [30_000, 30_000, 30_000, 10_000]
    assert b"".join([c async for c in await cache.open_chunks(stored.name)]) == data


async def test_a_local_read_stopped_early_closes_its_file(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media")
    stored = await cache.store_bytes(payload(2 * SMALL_BYTES))  # not kept in memory: read from the file
    path = cache.directory / stored.name
    opened = [await cache.open_chunks(stored.name) for _ in range(20)]
    assert open_count(path) == 0  # opening holds nothing until the first chunk
    for chunks in opened:
        assert len(await anext(chunks)) == CHUNK
    assert open_count(path) == 20
    for chunks in opened[:10]:
        await chunks.aclose()
    for chunks in opened[10:]:
        async with chunks:
            await anext(chunks)
    assert open_count(path) == 0
    stored_after = await cache.open_chunks(stored.name)
    assert stored_after is not None and sum([len(c) async for c in stored_after]) == 2 * SMALL_BYTES
    assert open_count(path) == 0  # the end of the chunks closes it too


async def test_a_big_s3_object_is_read_back_in_chunks(s3_store: Any) -> None:
    store: MediaStore = s3_store
    data = payload(19 * 1024 * 1024)  # a multipart upload of three parts
    stored = await store.store_bytes(data, "image/png")
    chunks = await store.open_chunks(stored.name)
    assert chunks is not None and (chunks.size, chunks.mime_type) == (len(data), "image/png")
    sha = hashlib.sha256()
    async for chunk in chunks:
        assert 0 < len(chunk) <= CHUNK
        sha.update(chunk)
    assert sha.hexdigest() == hashlib.sha256(data).hexdigest()
    assert await store.open_chunks("A" * 20 + ".png") is None and await store.open_chunks("../x") is None


async def test_s3_reads_stopped_early_release_their_connections(s3_store: Any) -> None:
    store: MediaStore = s3_store
    data = payload(8 * 1024 * 1024)  # far more than a socket buffer: an unread body keeps its connection busy
    stored = await store.store_bytes(data)
    async with asyncio.timeout(30):  # a leaked connection: the 3rd read waits for a free one for good
        for _ in range(10):  # five times the pool
            chunks = await store.open_chunks(stored.name)
            assert chunks is not None and len(await anext(chunks)) > 0
            await chunks.aclose()
        for _ in range(10):
            async with await store.open_chunks(stored.name) as chunks:
                async for _chunk in chunks:
                    break
        for _ in range(10):  # dropped without aclose: the event loop finalizes the generator
            chunks = await store.open_chunks(stored.name)
            await anext(chunks)
            del chunks
            gc.collect()
            await asyncio.sleep(0)
        assert (await store.open_chunks("B" * 20 + ".png")) is None  # HeadObject still gets a connection
    async with asyncio.timeout(30):
        whole = await store.open_chunks(stored.name)
        assert whole is not None
        assert hashlib.sha256(b"".join([c async for c in whole])).digest() == hashlib.sha256(data).digest()
