"""The media cache on disk: TTL expiry, the size cap with least-recently-used eviction, streaming, signing keys."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from flow2api.errors import UpstreamUnavailableError
from flow2api.media import MediaCache, UrlSigner
from flow2api.media import cache as cache_module
from flow2api.media.cache import SMALL_BYTES, valid_name
from flow2api.media.files import TokenSource

PNG = b"\x89PNG\r\n\x1a\n"


def blob(n: int) -> bytes:
    return PNG + b"\0" * (n - len(PNG))


def age(cache: MediaCache, name: str, seconds: float) -> None:
    """Make a file look ``seconds`` old (TTL is counted from the write)."""
    past = time.time() - seconds
    os.utime(cache.directory / name, (past, past))


async def test_ttl_hides_and_purges_old_files(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media", ttl=60)
    old, new = await cache.store_bytes(blob(100)), await cache.store_bytes(blob(100))
    age(cache, old.name, 61)
    assert cache.path_for(old.name) is None and cache.path_for(new.name) is not None
    assert cache.expires_at(new.name) == pytest.approx(time.time() + 60, abs=2)
    assert cache.purge_expired() == 1
    assert not (cache.directory / old.name).exists() and (cache.directory / new.name).exists()
    assert len(cache) == 1 and cache.total_bytes == 100


async def test_ttl_zero_keeps_forever(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media", ttl=0)
    stored = await cache.store_bytes(blob(10))
    age(cache, stored.name, 10 * 365 * 86400)
    assert cache.path_for(stored.name) is not None and cache.purge_expired() == 0
    assert cache.expires_at(stored.name) is None


async def test_size_cap_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media", max_bytes=250)
    a = await cache.store_bytes(blob(100))
    b = await cache.store_bytes(blob(100))
    assert cache.path_for(a.name) is not None  # a is now more recently used than b
    c = await cache.store_bytes(blob(100))
    assert cache.path_for(b.name) is None and not (cache.directory / b.name).exists()
    assert cache.path_for(a.name) is not None and cache.path_for(c.name) is not None
    assert cache.total_bytes == 200


async def test_a_file_larger_than_the_cap_is_kept_alone(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media", max_bytes=150)
    small = await cache.store_bytes(blob(100))
    big = await cache.store_bytes(blob(400))
    assert cache.path_for(big.name) is not None and cache.path_for(small.name) is None
    assert len(cache) == 1


async def test_index_is_rebuilt_from_disk_oldest_first(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media")
    first, second = await cache.store_bytes(blob(100)), await cache.store_bytes(blob(100))
    age(cache, second.name, 100)  # written "earlier" → least recently used after a restart
    (cache.directory / ".leftover.part").write_bytes(b"partial")
    reopened = MediaCache(tmp_path / "media", max_bytes=250)
    assert reopened.total_bytes == 200 and not (cache.directory / ".leftover.part").exists()
    await reopened.store_bytes(blob(100))
    assert reopened.path_for(second.name) is None and reopened.path_for(first.name) is not None


async def test_remove_and_malformed_names(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media")
    stored = await cache.store_bytes(blob(50))
    assert cache.remove(stored.name) and not cache.remove(stored.name)
    assert cache.total_bytes == 0
    for bad in ("../secret.key", "short.png", "x" * 20 + ".png/..", ""):
        assert cache.path_for(bad) is None


async def test_store_url_streams_to_disk_and_reports_failures(tmp_path: Path, aiohttp_server: Callable) -> None:
    body = b"\x00\x00\x00\x18ftypmp42" + os.urandom(600_000)

    async def video(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Referer") != "https://labs.google/":
            return web.Response(status=403)
        return web.Response(body=body, content_type="application/octet-stream")

    cdn = web.Application()
    cdn.router.add_get("/v.mp4", video)
    server = await aiohttp_server(cdn)
    cache = MediaCache(tmp_path / "media", max_bytes=10_000_000)
    async with aiohttp.ClientSession() as http:
        url = str(server.make_url("/v.mp4"))
        stored = await cache.store_url(http, url, headers={"Referer": "https://labs.google/"})
        assert stored.mime_type == "video/mp4" and stored.size == len(body) and stored.name.endswith(".mp4")
        assert (cache.directory / stored.name).read_bytes() == body and cache.total_bytes == len(body)
        with pytest.raises(UpstreamUnavailableError) as err:
            await cache.store_url(http, str(server.make_url("/v.mp4")))
        assert "403" in err.value.message and "v.mp4" not in err.value.message
    assert [p.name for p in cache.directory.iterdir()] == [stored.name]  # no .part left behind


async def test_small_results_are_on_disk_and_in_memory_big_ones_only_on_disk(
    tmp_path: Path, aiohttp_server: Callable,
) -> None:
    small, big = blob(300_000), b"\x00\x00\x00\x18ftypmp42" + os.urandom(SMALL_BYTES + 300_000)

    async def small_png(_request: web.Request) -> web.Response:
        return web.Response(body=small, content_type="image/png")

    async def big_video(_request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="application/octet-stream")

    cdn = web.Application()
    cdn.router.add_get("/small", small_png)
    cdn.router.add_get("/big", big_video)
    server = await aiohttp_server(cdn)
    cache = MediaCache(tmp_path / "media")
    async with aiohttp.ClientSession() as http:
        image = await cache.store_url(http, str(server.make_url("/small")))
        video = await cache.store_url(http, str(server.make_url("/big")))
    # Both are on disk when store_url returns (a URL in an answer survives a restart) ...
    assert (cache.directory / image.name).read_bytes() == small and image.mime_type == "image/png"
    assert (cache.directory / video.name).read_bytes() == big and video.mime_type == "video/mp4"
    # ... and only the small one is also served from memory.
    assert cache.recent_bytes(image.name) == small and cache.recent_bytes(video.name) is None
    assert await cache.read_bytes(video.name) == big
    assert sorted(p.name for p in cache.directory.iterdir()) == sorted([image.name, video.name])


async def test_concurrent_small_results_are_written_in_batches(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media")
    batches: list[int] = []
    write_all = cache.files.write_all

    def counted(files: list[tuple[str, bytes]]) -> list[OSError | None]:
        batches.append(len(files))
        return write_all(files)

    cache.files.write_all = counted  # type: ignore[method-assign] - counts, then writes for real
    stored = await asyncio.gather(*(cache.store_bytes(blob(1000 + i)) for i in range(40)))
    assert all((cache.directory / s.name).stat().st_size == 1000 + i for i, s in enumerate(stored))
    assert sum(batches) == 40 and len(batches) < 40, batches


async def test_a_failed_write_fails_its_store_and_leaves_no_trace(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path / "media")
    cache.directory.rmdir()  # gone under the running server (a cleaned-up volume): every write fails
    with pytest.raises(OSError):
        await cache.store_bytes(blob(100))
    assert len(cache) == 0 and cache.total_bytes == 0 and not cache.directory.exists()


async def test_memory_follows_removal_eviction_and_its_own_cap(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    cache = MediaCache(tmp_path / "media", max_bytes=350_000)
    first, second = await cache.store_bytes(blob(200_000)), await cache.store_bytes(blob(100_000))
    assert cache.recent_bytes(first.name) and cache.recent_bytes(second.name)
    assert cache.remove(second.name) and cache.recent_bytes(second.name) is None
    await cache.store_bytes(blob(200_000))  # over the disk cap: the least recently used file goes, memory too
    assert cache.path_for(first.name) is None and cache.recent_bytes(first.name) is None
    monkeypatch.setattr(cache_module, "RECENT_BYTES", 250_000)
    uncapped = MediaCache(tmp_path / "other")
    a, b = await uncapped.store_bytes(blob(200_000)), await uncapped.store_bytes(blob(200_000))
    assert uncapped.recent_bytes(a.name) is None and uncapped.recent_bytes(b.name) is not None
    assert (await uncapped.read_bytes(a.name)) == blob(200_000)  # from the file


def test_signing_key_is_created_once_private_and_verifies(tmp_path: Path) -> None:
    key_file = tmp_path / "media.key"
    signer = UrlSigner.from_key_file(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = UrlSigner.from_key_file(key_file)
    expires = int(time.time()) + 60
    sig = signer.signature("abc.png", expires)
    assert again.verify("abc.png", str(expires), sig, now=time.time())
    assert not again.verify("abd.png", str(expires), sig, now=time.time())
    assert not again.verify("abc.png", str(expires + 1), sig, now=time.time())
    assert not again.verify("abc.png", str(expires), sig, now=expires + 1)
    assert not again.verify("abc.png", None, None, now=time.time())


def test_names_are_unique_unguessable_tokens_across_buffer_refills() -> None:
    source = TokenSource(chunk=64)  # a refill every 3 names
    names = [source.take() for _ in range(3000)]
    assert len(set(names)) == 3000 and all(len(n) == 24 and valid_name(n + ".png") for n in names)
    assert len({n[0] for n in names}) > 32  # spread over the base64 alphabet, not a counter


async def test_store_url_retries_5xx_and_cut_connections_but_not_4xx(tmp_path: Path, aiohttp_server: Callable) -> None:
    image = blob(5000)
    plan: list[int] = []
    seen: list[str] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        status = plan.pop(0) if plan else 200
        if status == 0:  # cut the connection mid-answer
            request.transport.close()
            return web.Response()
        return web.Response(body=image if status == 200 else b"", status=status, content_type="image/png")

    cdn = web.Application()
    cdn.router.add_get("/{name}", flaky)
    server = await aiohttp_server(cdn)
    cache = MediaCache(tmp_path / "media")
    async with aiohttp.ClientSession() as http:
        plan[:] = [503, 0]
        stored = await cache.store_url(http, str(server.make_url("/a.png")))
        assert (cache.directory / stored.name).read_bytes() == image and len(seen) == 3
        seen.clear()
        plan[:] = [404]
        with pytest.raises(UpstreamUnavailableError, match="HTTP 404"):
            await cache.store_url(http, str(server.make_url("/b.png")))
        assert len(seen) == 1, "a 4xx is not retried"
        seen.clear()
        plan[:] = [502] * cache_module.FETCH_ATTEMPTS
        with pytest.raises(UpstreamUnavailableError, match="HTTP 502") as err:
            await cache.store_url(http, str(server.make_url("/c.png")))
        assert len(seen) == cache_module.FETCH_ATTEMPTS and err.value.code == "upstream_unavailable"
    assert [p.name for p in cache.directory.iterdir()] == [stored.name]
