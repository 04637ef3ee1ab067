"""``/media/<name>`` answers: private caching only, and ``bytes=-0`` is unsatisfiable (issue 18, item 17)."""

from __future__ import annotations

import aiohttp

from flow2api.media import MEDIA
from flow2api.testing import FakeWorld
from tests.api.conftest import png


async def stored_url(fake: FakeWorld, size: int) -> tuple[str, bytes]:
    """Start the fake gateway, put ``size`` bytes of PNG-looking data in its cache; the URL and the bytes."""
    gw = await fake.start()
    data = png(8, 8)
    data += b"\0" * max(0, size - len(data))
    stored = await gw.app[MEDIA].store_bytes(data, "image/png")
    return f"{gw.url}/media/{stored.name}", data


async def test_media_is_private_to_shared_caches(fake: FakeWorld) -> None:
    url, data = await stored_url(fake, 100)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Range": "bytes=0-9"}):
            async with http.get(url, headers=headers) as r:
                assert r.status in (200, 206)
                control = [part.strip() for part in r.headers["Cache-Control"].split(",")]
                assert "private" in control and "public" not in control


async def test_an_empty_suffix_range_is_416_for_small_and_large_files(fake: FakeWorld) -> None:
    for size in (100, 300 * 1024):  # the in-memory / threaded-read path and the FileResponse path
        url, data = await stored_url(fake, size)
        async with aiohttp.ClientSession() as http:
            for value in ("bytes=-0", "bytes=-00"):
                async with http.get(url, headers={"Range": value}) as r:
                    assert r.status == 416, value
                    assert r.headers["Content-Range"] == f"bytes */{len(data)}"
            async with http.get(url, headers={"Range": "bytes=-1"}) as r:
                assert r.status == 206 and await r.read() == data[-1:]
