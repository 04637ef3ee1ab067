"""``/media/<name>`` over HTTP: ranges, lengths, TTL, size cap, ``[cache] base_url``, signed expiring URLs."""

from __future__ import annotations

import os
import re
import stat
import time
from types import SimpleNamespace

import aiohttp
from yarl import URL

from flow2api.media import MEDIA
from flow2api.media import cache as cache_module
from tests.api.conftest import IMAGE_MODEL, FakeWorld, SdkFactory, png
from tests.conftest import API_KEY

IMAGE_URL = re.compile(r"!\[Generated Image\]\((\S+)\)")


async def generate(sdk: SdkFactory, gw, **headers: str) -> str:  # noqa: ANN001
    completion = await sdk(gw).chat.completions.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}], extra_headers=headers or None)
    return IMAGE_URL.fullmatch(completion.choices[0].message.content)[1]


async def get(url: str, **headers: str) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


async def test_full_and_ranged_reads(fake: FakeWorld, sdk: SdkFactory) -> None:
    image = png(80, 60)
    fake.image.default[-1] = type(fake.image.default[-1])(kind=fake.image.default[-1].kind, mime_type="image/png",
                                                          data=image)
    gw = await fake.start()
    url = await generate(sdk, gw)
    status, headers, body = await get(url)
    assert status == 200 and body == image
    assert headers["Content-Type"] == "image/png" and int(headers["Content-Length"]) == len(image)
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = await get(url, Range="bytes=8-15")
    assert status == 206 and body == image[8:16] and headers["Content-Range"] == f"bytes 8-15/{len(image)}"
    status, _, body = await get(url, Range="bytes=-10")
    assert status == 206 and body == image[-10:]
    status, _, _ = await get(url, Range=f"bytes={len(image) + 10}-")
    assert status == 416


async def test_expired_files_are_404(fake: FakeWorld, sdk: SdkFactory, monkeypatch) -> None:  # noqa: ANN001
    gw = await fake.start(cache={"timeout": 60})
    url = await generate(sdk, gw)
    name = URL(url).name
    assert (await get(url))[0] == 200
    assert gw.app[MEDIA].recent_bytes(name) is not None, "a fresh image is served from memory"
    # Two minutes later by the cache's clock: expired both in memory and on disk (file mtime + TTL).
    real = time.time
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(time=lambda: real() + 120))
    assert (await get(url))[0] == 404
    gw.app[MEDIA]._recent.clear()  # only the file is left: its age decides too
    assert (await get(url))[0] == 404
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(time=real))
    assert (await get(url))[0] == 200


async def test_size_cap_evicts_old_results(fake: FakeWorld, sdk: SdkFactory) -> None:
    image = png(200, 200, (3, 3, 3))
    fake.image.default[-1] = type(fake.image.default[-1])(kind=fake.image.default[-1].kind, mime_type="image/png",
                                                          data=image)
    gw = await fake.start(cache={"max_bytes": len(image) * 2 + 10})
    urls = [await generate(sdk, gw) for _ in range(3)]
    assert [(await get(u))[0] for u in urls] == [404, 200, 200]


async def test_base_url_setting_and_forwarded_headers(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start(cache={"base_url": "https://media.example.com/flow/"})
    assert (await generate(sdk, gw)).startswith("https://media.example.com/flow/media/")
    gw2 = await fake.start()
    url = await generate(sdk, gw2, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.org"})
    assert url.startswith("https://api.example.org/media/")


async def test_signed_urls(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start(cache={"sign_urls": True, "signed_url_ttl": 300})
    url = URL(await generate(sdk, gw))
    assert set(url.query) == {"expires", "sig"}
    assert abs(int(url.query["expires"]) - (time.time() + 300)) < 5
    assert (await get(str(url)))[0] == 200
    assert (await get(str(url.with_query(None))))[0] == 403
    tampered = url.update_query(sig="0" * 64)
    assert (await get(str(tampered)))[0] == 403
    longer = url.update_query(expires=str(int(url.query["expires"]) + 1000))
    assert (await get(str(longer)))[0] == 403
    signer = gw.app[MEDIA].signer
    expired = url.with_query(signer.query(url.name, int(time.time()) - 1))
    assert (await get(str(expired)))[0] == 403
    key_file = gw.app[MEDIA].directory.parent / "media.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


async def test_unknown_media_is_404_without_auth(fake: FakeWorld) -> None:
    gw = await fake.start()
    status, _, _ = await get(f"{gw.url}/media/AAAAAAAAAAAAAAAAAAAAAAAA.png", Authorization=f"Bearer {API_KEY}")
    assert status == 404
    assert (await get(f"{gw.url}/media/..%2Fflow2api.db"))[0] == 404
