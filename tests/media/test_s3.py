"""The S3 backend against a real S3 API (moto's server mode, :mod:`flow2api.testing.s3`): results written to the
bucket by one gateway are served by another with its own data directory, ranges included; TTL and size cap are
enforced by the sweep; unknown names are 404; the signing key is shared; no secret reaches an error or a log."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from flow2api.media import MEDIA
from flow2api.media import cache as cache_module
from flow2api.plugin import Kind, MediaOutput, Submitted
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FAKE_VIDEO_MODEL, FakeWorld, S3Server
from flow2api.testing.fakes import png
from flow2api.testing.s3 import SECRET_ACCESS_KEY

IMAGE_URL = re.compile(r"!\[Generated Image\]\((\S+)\)")
VIDEO_BYTES = hashlib.sha256(b"seed").digest() * (19 * 1024 * 1024 // 32)  # 19 MiB: three multipart parts
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # botocore's utcnow; the SDK's Sora API


async def get(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


async def two_gateways(fake: FakeWorld, tmp_path: Any, cache: dict[str, Any]) -> tuple[Any, Any]:
    """Gateway A (the fake world's data dir) and B (its own data dir, no accounts), both on ``cache``'s bucket."""
    a = await fake.start(cache=cache)
    b = await fake.start(accounts=0, cache=cache, storage={"data_dir": str(tmp_path / "data-b")})
    return a, b


async def chat_image(sdk: Callable, gw: Any) -> str:
    completion = await sdk(gw).chat.completions.create(
        model=FAKE_IMAGE_MODEL, messages=[{"role": "user", "content": "x"}])
    return IMAGE_URL.fullmatch(completion.choices[0].message.content)[1]


async def test_a_result_stored_by_one_gateway_is_served_by_another(
    fake: FakeWorld, sdk: Callable, s3_server: S3Server, s3_cache: dict[str, Any], tmp_path: Any,
) -> None:
    image = png(120, 90, (9, 99, 199))
    fake.image.default[-1] = MediaOutput(Kind.IMAGE, mime_type="image/png", data=image, upstream_id="img-1")
    a, b = await two_gateways(fake, tmp_path, s3_cache)
    url = URL(await chat_image(sdk, a))
    assert url.path.startswith("/media/")
    stored = s3_server.client().get_object(Bucket=s3_cache["s3_bucket"], Key=f"media/{url.name}")
    assert stored["Body"].read() == image and stored["ContentType"] == "image/png"
    assert not (tmp_path / "data" / "media" / url.name).exists() and not (tmp_path / "data-b" / "media").exists()
    on_b = f"{b.url}/media/{url.name}"
    status, headers, body = await get(on_b)
    assert status == 200 and body == image and headers["Content-Type"] == "image/png"
    assert int(headers["Content-Length"]) == len(image) and headers["Accept-Ranges"] == "bytes"
    assert "private" in headers["Cache-Control"]
    status, headers, body = await get(on_b, Range="bytes=8-15")
    assert status == 206 and body == image[8:16] and headers["Content-Range"] == f"bytes 8-15/{len(image)}"
    assert "private" in headers["Cache-Control"]
    status, _, body = await get(on_b, Range="bytes=-10")
    assert status == 206 and body == image[-10:]
    status, _, body = await get(on_b, Range="bytes=100-")
    assert status == 206 and body == image[100:]
    for unsatisfiable in (f"bytes={len(image) + 10}-", "bytes=-0"):
        status, headers, _ = await get(on_b, Range=unsatisfiable)
        assert status == 416 and headers["Content-Range"] == f"bytes */{len(image)}", unsatisfiable
    status, headers, body = await get(on_b, "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(image)
    # B can take it as an input too (a chat turn naming our URL): read from the bucket, not over HTTP
    assert await b.app[MEDIA].read_bytes(url.name) == image
    status, _, body = await get(f"{b.url}/health")
    assert status == 200 and json.loads(body)["media"]["backend"] == "s3"


async def test_a_video_streams_through_a_multipart_upload_and_serves_ranges_everywhere(
    fake: FakeWorld, sdk: Callable, s3_server: S3Server, s3_cache: dict[str, Any], tmp_path: Any, aiohttp_server: Callable,
) -> None:
    cdn = web.Application()
    cdn.router.add_get("/v.mp4", lambda _: web.Response(body=VIDEO_BYTES, content_type="video/mp4"))
    server = await aiohttp_server(cdn)
    fake.video.default[:] = [Submitted({"operation": "op-1"}), MediaOutput(
        Kind.VIDEO, mime_type="video/mp4", url=str(server.make_url("/v.mp4")), upstream_id="vid-1")]
    a, b = await two_gateways(fake, tmp_path, s3_cache)
    client = sdk(a)
    video = await client.videos.create(model=FAKE_VIDEO_MODEL, prompt="a paper boat")
    for _ in range(500):
        video = await client.videos.retrieve(video.id)
        if video.status in ("completed", "failed"):
            break
        await asyncio.sleep(0.02)
    assert video.status == "completed" and video.expires_at > time.time()
    content = await client.videos.download_content(video.id)
    assert content.content == VIDEO_BYTES
    name = URL(video.model_extra["flow2api"]["url"]).name
    head = s3_server.client().head_object(Bucket=s3_cache["s3_bucket"], Key=f"media/{name}", PartNumber=1)
    assert head["PartsCount"] == 3, "8 + 8 + 3 MiB: streamed in parts, never held whole"
    boundary = 8 * 1024 * 1024  # the first part's end
    for gw in (a, b):
        status, headers, body = await get(f"{gw.url}/media/{name}", Range=f"bytes={boundary - 5}-{boundary + 4}")
        assert status == 206 and body == VIDEO_BYTES[boundary - 5:boundary + 5]
        assert headers["Content-Range"] == f"bytes {boundary - 5}-{boundary + 4}/{len(VIDEO_BYTES)}"
    status, headers, body = await get(f"{a.url}/v1/videos/{video.id}/content", Range="bytes=-100",
                                      Authorization=f"Bearer {API_KEY}")
    assert status == 206 and body == VIDEO_BYTES[-100:] and headers["Content-Type"] == "video/mp4"
    status, _, body = await get(f"{b.url}/media/{name}")
    assert status == 200 and body == VIDEO_BYTES
    await client.videos.delete(video.id)
    assert (await get(f"{b.url}/media/{name}"))[0] == 404


async def test_the_sweep_deletes_expired_objects_and_the_oldest_past_the_cap(
    fake: FakeWorld, s3_server: S3Server, s3_cache: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = await two_gateways(fake, tmp_path, {**s3_cache, "timeout": 60})
    stored = await a.app[MEDIA].store_bytes(png(10, 10), "image/png")
    bucket = s3_server.client()
    keys = lambda: sorted(o["Key"] for o in bucket.list_objects_v2(Bucket=s3_cache["s3_bucket"]).get("Contents", ()))
    assert f"media/{stored.name}" in keys() and await b.app[MEDIA].sweep() == 0
    real = time.time
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(time=lambda: real() + 120))  # two minutes later
    assert (await get(f"{a.url}/media/{stored.name}"))[0] == 404, "expired: not served even before the sweep"
    assert await b.app[MEDIA].sweep() == 1
    assert keys() == ["media/.media.key"], "the expired object is gone; the signing key stays"
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(time=real))
    assert (await get(f"{b.url}/media/{stored.name}"))[0] == 404, "deleted: gone whatever the clock says"

    capped = await fake.start(cache={**s3_cache, "max_bytes": 2500}, storage={"data_dir": str(tmp_path / "c")})
    names = []
    for _ in range(3):
        names.append((await capped.app[MEDIA].store_bytes(b"\0" * 1000, "video/mp4")).name)
        await asyncio.sleep(1.05)  # S3's LastModified has whole seconds: the cap goes by write time
    assert await capped.app[MEDIA].sweep() == 1
    # one sorted list: a random name may begin with "-", which sorts before ".media.key"
    assert keys() == sorted(["media/.media.key", *(f"media/{n}" for n in names[1:])])
    assert len(capped.app[MEDIA]) == 2 and capped.app[MEDIA].total_bytes == 2000


async def test_missing_objects_are_404_and_signed_links_verify_on_every_instance(
    fake: FakeWorld, sdk: Callable, s3_cache: dict[str, Any], tmp_path: Any,
) -> None:
    a, b = await two_gateways(fake, tmp_path, {**s3_cache, "sign_urls": True})
    missing = "AAAAAAAAAAAAAAAAAAAAAAAA.png"
    assert (await get(f"{b.url}/media/{missing}?{b.app[MEDIA].signer.query(missing, int(time.time()) + 60)}"))[0] == 404
    key = ".media.key"
    assert (await get(f"{b.url}/media/{key}?{b.app[MEDIA].signer.query(key, int(time.time()) + 60)}"))[0] == 404
    url = URL(await chat_image(sdk, a))
    assert set(url.query) == {"expires", "sig"}
    assert (await get(str(url.with_host(URL(b.url).host).with_port(URL(b.url).port))))[0] == 200
    assert (await get(f"{b.url}/media/{url.name}"))[0] == 403


async def test_an_unreachable_bucket_fails_start_without_the_secret(
    fake: FakeWorld, s3_cache: dict[str, Any], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(OSError) as err:
        await fake.start(cache={**s3_cache, "s3_endpoint_url": "http://127.0.0.1:9"})
    assert "media storage (S3)" in str(err.value) and SECRET_ACCESS_KEY not in str(err.value)
    assert SECRET_ACCESS_KEY not in caplog.text
