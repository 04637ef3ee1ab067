"""The signed media CDN: redirect target (spec §2.16), signature and expiry, Range, HEAD."""

from __future__ import annotations

from typing import Any

from emulator_helpers import FlowClient, fetch

from flow2api_videofx.emulator import FlowEmulator


async def test_redirect_location_points_at_signed_video(flow: FlowClient, project: str, http: Any) -> None:
    name, video_id = await flow.finished_video(project)
    location = await flow.redirect(name)
    assert location.startswith(str(http.make_url("/cdn/video/"))) and video_id in location
    resp = await fetch(http, location)
    data = await resp.read()
    assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    assert int(resp.headers["Content-Length"]) == len(data) and resp.headers["Accept-Ranges"] == "bytes"
    assert data[4:8] == b"ftyp" and len(data) < 20_000


async def test_range_requests(flow: FlowClient, project: str, http: Any) -> None:
    name, _ = await flow.finished_video(project)
    location = await flow.redirect(name)
    full = await (await fetch(http, location)).read()
    resp = await fetch(http, location, headers={"Range": "bytes=0-99"})
    assert resp.status == 206 and resp.headers["Content-Range"] == f"bytes 0-99/{len(full)}"
    assert await resp.read() == full[:100] and resp.headers["Content-Length"] == "100"
    resp = await fetch(http, location, headers={"Range": "bytes=-10"})
    assert resp.status == 206 and await resp.read() == full[-10:]
    resp = await fetch(http, location, headers={"Range": f"bytes={len(full) - 5}-"})
    assert await resp.read() == full[-5:]
    resp = await fetch(http, location, headers={"Range": f"bytes={len(full)}-"})
    assert resp.status == 416 and resp.headers["Content-Range"] == f"bytes */{len(full)}"
    resp = await http.session.head(location)
    assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(full)


async def test_signature_and_expiry(flow: FlowClient, project: str, http: Any, clock: Any,
                                    emulator: FlowEmulator) -> None:
    name, video_id = await flow.finished_video(project)
    location = await flow.redirect(name)
    tampered = location.replace("sig=", "sig=x")
    assert (await fetch(http, tampered)).status == 403
    assert (await fetch(http, location.split("?")[0])).status == 403
    other = location.replace(video_id, "00000000-0000-4000-8000-000000000000")
    assert (await fetch(http, other)).status == 403
    clock.advance(emulator.settings.media_url_ttl_s + 1)
    resp = await fetch(http, location)
    assert resp.status == 403 and "expired" in await resp.text()


async def test_image_redirect_and_recorded_cdn_account(flow: FlowClient, project: str, http: Any,
                                                       emulator: FlowEmulator) -> None:
    _, answer = await flow.generate_image(project)
    location = await flow.redirect(answer["media"][0]["name"])
    resp = await fetch(http, location)
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/png"
    assert emulator.calls("cdn.image")[-1].account == "alice@example.com"
    resp = await http.get("/fx/api/trpc/media.getMediaUrlRedirect",
                          params={"name": answer["media"][0]["name"], "mediaUrlType": "MEDIA_URL_TYPE_THUMBNAIL"},
                          headers={"Cookie": f"__Secure-next-auth.session-token={flow.st}"}, allow_redirects=False)
    assert resp.status == 400
