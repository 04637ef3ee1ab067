"""Issue 20 item 7: an approved scene animated into a short clip (image-to-video through the core's video runner),
against the bundled Flow emulator through the storyboard API: the clip in the storyboard object, as a Videos API
job of the key, in the ZIP; bad requests; a restart while the clip is generating makes it once."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from typing import Any

import aiohttp
import pytest
from storyboard_helpers import STORY, Demo, auth, wait_for

from flow2api.apikeys import API_KEYS
from flow2api.storage import DATABASE
from flow2api.storage.tasks import TASKS

START_IMAGE = "/_emulator/requests?operation=batchAsyncGenerateVideoStartImage"
PNG, JPEG, MP4 = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"ftyp"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=auth()) as response:
        return response.status, await response.json()


async def approved_board(demo: Demo, http: aiohttp.ClientSession, scenes: int = 2) -> dict[str, Any]:
    """A storyboard of ``scenes`` scenes (landscape), every scene approved."""
    status, created = await call(http, "POST", f"{demo.url}/v1/storyboards",
                                 {"story": STORY, "scenes": scenes, "size": "1792x1024"})
    assert status == 202, created
    board = await wait_for(http, f"{demo.url}/v1/storyboards/{created['id']}")
    assert board["status"] == "ready" and all(s["clip"] is None for s in board["scenes"])
    return board


async def clip_done(demo: Demo, http: aiohttp.ClientSession, sb_id: str, index: int,
                    timeout: float = 60.0) -> dict[str, Any]:
    """Poll the storyboard until scene ``index``'s clip is done or failed; returns the storyboard."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        board = await wait_for(http, f"{demo.url}/v1/storyboards/{sb_id}", ("ready", "approved", "failed"))
        if board["scenes"][index]["clip"]["status"] in ("done", "failed"):
            return board
        assert loop.time() < deadline, board["scenes"][index]["clip"]
        await asyncio.sleep(0.1)


async def test_animate_an_approved_scene_shows_the_clip_and_puts_it_in_the_zip(demo: Demo) -> None:
    await demo.start(flow={"poll_interval": 0.05})
    async with aiohttp.ClientSession() as http:
        board = await approved_board(demo, http)
        base = f"{demo.url}/v1/storyboards/{board['id']}"
        status, error = await call(http, "POST", f"{base}/scenes/0/animate", {})
        assert status == 409 and error["error"]["param"] == "index"  # not approved yet
        await call(http, "POST", f"{base}/approve", {"scenes": [0]})

        for body, code in (({"model": "no-such-model"}, "model_not_found"),
                           ({"model": "gemini-3.1-flash-image"}, None),  # an image model
                           ({"model": "veo_3_1_t2v_fast_landscape"}, None),  # text-to-video only
                           ({"model": "veo_3_1_interpolation_lite_landscape"}, None),  # needs two frames
                           ({"seconds": 4}, None)):
            status, error = await call(http, "POST", f"{base}/scenes/0/animate", body)
            assert status == 400 and set(error["error"]) == {"message", "type", "param", "code"}, (body, error)
            assert error["error"]["type"] == "invalid_request_error"
            assert code is None or error["error"]["code"] == code
        assert (await call(http, "POST", f"{base}/scenes/9/animate", {}))[0] == 404

        status, queued = await call(http, "POST", f"{base}/scenes/0/animate", {"prompt": "the lamp turns slowly"})
        assert status == 202, queued
        clip = queued["scenes"][0]["clip"]
        # the default [storyboard] video_model alias, resolved for the storyboard's landscape size
        assert clip["status"] in ("queued", "generating") and clip["model"] == "veo_3_1_i2v_s_fast_fl"
        assert (await call(http, "POST", f"{base}/scenes/0/animate", {}))[0] == 409  # still being made
        assert (await call(http, "POST", f"{base}/scenes/0/regenerate", {}))[0] == 409

        board = await clip_done(demo, http, board["id"], 0)
        clip = board["scenes"][0]["clip"]
        assert clip["status"] == "done" and clip["error"] is None and clip["prompt"] == "the lamp turns slowly"
        assert board["status"] == "approved" and board["scenes"][1]["clip"] is None
        async with http.get(clip["video_url"]) as response:
            assert response.status == 200 and (await response.read())[4:8] == MP4
        # one image-to-video submission upstream, started from the scene's image
        (submitted,) = (await demo.emulator("GET", START_IMAGE))["requests"]
        assert "the lamp turns slowly" in json.dumps(submitted["json"])
        # the clip is the key's Videos API job
        status, video = await call(http, "GET", f"{demo.url}/v1/videos/{clip['video_id']}")
        assert status == 200 and video["status"] == "completed" and video["flow2api"]["model"] == clip["model"]

        async with http.get(f"{base}/download?scenes=all", headers=auth()) as response:
            assert response.status == 200
            archive = zipfile.ZipFile(io.BytesIO(await response.read()))
        # a regenerated image drops its clip (made of the old image): it leaves the media cache
        status, again = await call(http, "POST", f"{base}/scenes/0/regenerate", {})
        assert status == 202 and again["scenes"][0]["clip"] is None
        async with http.get(clip["video_url"]) as response:
            assert response.status == 404
    names = archive.namelist()
    movie = next(n for n in names if n.endswith(".mp4"))
    assert movie.startswith("01-") and names.index(movie) == 1  # right after its scene's image
    assert archive.read(movie)[4:8] == MP4 and archive.read(names[0]).startswith((PNG, JPEG))
    exported = json.loads(archive.read("storyboard.json"))
    assert exported["scenes"][0]["clip"]["video_url"] == movie and exported["scenes"][1]["clip"] is None
    assert f'<video src="{movie}"' in archive.read("index.html").decode()


async def test_a_restart_while_a_clip_is_generating_makes_it_once(demo: Demo) -> None:
    # one status poll a second upstream, so the gateway stops while the emulator still renders the clip
    await demo.start(flow={"poll_interval": 1.0})
    async with aiohttp.ClientSession() as http:
        board = await approved_board(demo, http, scenes=1)
        base = f"{demo.url}/v1/storyboards/{board['id']}"
        await call(http, "POST", f"{base}/approve", {"all": True})
        assert (await call(http, "POST", f"{base}/scenes/0/animate", {}))[0] == 202
        for _ in range(200):  # until upstream accepted the job (the runner stored its resume state)
            clip = (await call(http, "GET", base))[1]["scenes"][0]["clip"]
            record = await demo.app[TASKS].get(clip["video_id"]) if clip["video_id"] else None
            if record is not None and record.resume is not None:
                break
            await asyncio.sleep(0.05)
        assert record is not None and record.resume is not None and not record.finished
        await demo.stop()
        assert len((await demo.emulator("GET", START_IMAGE))["requests"]) == 1
        await demo.start()  # same settings and data directory, as a new process would start
        board = await clip_done(demo, http, board["id"], 0, timeout=90)
        clip = board["scenes"][0]["clip"]
        assert clip["status"] == "done", clip
        assert len((await demo.emulator("GET", START_IMAGE))["requests"]) == 1  # resumed upstream, not submitted again
        rows = await demo.app[DATABASE].fetch_all(
            "SELECT id, status FROM tasks WHERE surface = 'videos' AND id LIKE ?", (f"video_{board['id']}_%",))
        assert [(r.id, r.status) for r in rows] == [(clip["video_id"], "completed")]

        # the storyboard's clip leaves the media cache with it
        assert (await call(http, "DELETE", f"{demo.url}/v1/storyboards/{board['id']}"))[0] == 200
        async with http.get(clip["video_url"]) as response:
            assert response.status == 404


async def test_a_key_not_allowed_the_video_model_gets_a_failed_clip_and_no_video_job(demo: Demo) -> None:
    await demo.start(flow={"poll_interval": 0.05})
    _, key = await demo.app[API_KEYS].create("images only", models=["gemini-3.1-flash-image-landscape"])
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.post(f"{demo.url}/v1/storyboards",
                             json={"story": STORY, "scenes": 1, "size": "1792x1024"}) as response:
            base = f"{demo.url}/v1/storyboards/{(await response.json())['id']}"
        for _ in range(300):
            async with http.get(base) as response:
                board = await response.json()
            if board["status"] == "ready":
                break
            await asyncio.sleep(0.1)
        assert board["status"] == "ready", board
        async with http.post(f"{base}/approve", json={"all": True}) as response:
            assert response.status == 200
        async with http.post(f"{base}/scenes/0/animate", json={}) as response:
            assert response.status == 202
        for _ in range(300):
            async with http.get(base) as response:
                clip = (await response.json())["scenes"][0]["clip"]
            if clip["status"] == "failed":
                break
            await asyncio.sleep(0.05)
    assert clip["status"] == "failed" and clip["error"].startswith("permission_denied: "), clip
    assert clip["video_id"] is None  # it would name a job that was never created
    assert await demo.app[DATABASE].fetch_all("SELECT id FROM tasks WHERE surface = 'videos'") == []  # nothing queued
    assert (await demo.emulator("GET", START_IMAGE))["requests"] == []


async def test_deleting_the_storyboard_deletes_its_clip_jobs_also_of_a_dropped_clip(demo: Demo) -> None:
    await demo.start(flow={"poll_interval": 0.05})
    async with aiohttp.ClientSession() as http:
        board = await approved_board(demo, http, scenes=1)
        base = f"{demo.url}/v1/storyboards/{board['id']}"
        await call(http, "POST", f"{base}/approve", {"all": True})
        assert (await call(http, "POST", f"{base}/scenes/0/animate", {}))[0] == 202
        first = (await clip_done(demo, http, board["id"], 0))["scenes"][0]["clip"]
        # a regenerated image drops the clip; the next clip is a new job, not the dropped one joined again
        assert (await call(http, "POST", f"{base}/scenes/0/regenerate", {}))[0] == 202
        await wait_for(http, base, ("ready",))
        await call(http, "POST", f"{base}/approve", {"all": True})
        assert (await call(http, "POST", f"{base}/scenes/0/animate", {}))[0] == 202
        second = (await clip_done(demo, http, board["id"], 0))["scenes"][0]["clip"]
        assert second["status"] == "done" and second["video_id"] != first["video_id"], (first, second)
        ids = [first["video_id"], second["video_id"]]
        for video_id in ids:
            assert (await call(http, "GET", f"{demo.url}/v1/videos/{video_id}"))[0] == 200

        assert (await call(http, "DELETE", base))[0] == 200
        for video_id in ids:  # gone as after DELETE /v1/videos/{id}
            status, error = await call(http, "GET", f"{demo.url}/v1/videos/{video_id}")
            assert status == 404 and error["error"]["param"] == "video_id", error
        listed = (await call(http, "GET", f"{demo.url}/v1/videos"))[1]["data"]
        assert not {v["id"] for v in listed} & set(ids)
        async with http.get(second["video_url"]) as response:
            assert response.status == 404
    rows = await demo.app[DATABASE].fetch_all(
        "SELECT id FROM tasks WHERE surface = 'videos' AND deleted_at IS NOT NULL ORDER BY id")
    assert [r.id for r in rows] == sorted(ids)  # soft-deleted: the rows stay for statistics


async def test_deleting_the_storyboard_while_its_clip_is_made_deletes_that_job(demo: Demo) -> None:
    await demo.start(flow={"poll_interval": 1.0})  # the clip stays generating upstream for a while
    async with aiohttp.ClientSession() as http:
        board = await approved_board(demo, http, scenes=1)
        base = f"{demo.url}/v1/storyboards/{board['id']}"
        await call(http, "POST", f"{base}/approve", {"all": True})
        assert (await call(http, "POST", f"{base}/scenes/0/animate", {}))[0] == 202
        for _ in range(200):  # until the job's row exists
            clip = (await call(http, "GET", base))[1]["scenes"][0]["clip"]
            record = await demo.app[TASKS].get(clip["video_id"]) if clip["video_id"] else None
            if record is not None:
                break
            await asyncio.sleep(0.05)
        assert record is not None and not record.finished
        assert (await call(http, "DELETE", base))[0] == 200
        assert (await call(http, "GET", f"{demo.url}/v1/videos/{clip['video_id']}"))[0] == 404
        assert clip["video_id"] not in {v["id"] for v in (await call(http, "GET", f"{demo.url}/v1/videos"))[1]["data"]}
