"""End to end in demo mode (the bundled Flow emulator) with the calls a user makes through the openai SDK:
create → poll until ready → regenerate one scene → approve all → download the ZIP; and the list/delete/owner rules."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import httpx2 as httpx
import openai
import pytest
from openai import AsyncOpenAI
from storyboard_helpers import STORY, Demo

from flow2api.apikeys import API_KEYS
from flow2api.testing import API_KEY

PNG, JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


def client(demo: Demo, key: str = API_KEY) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{demo.url}/v1", api_key=key, max_retries=0, timeout=30)


async def poll(sdk: AsyncOpenAI, sb_id: str, statuses: tuple[str, ...] = ("ready", "failed")) -> dict:
    for _ in range(600):
        board = await sdk.get(f"/storyboards/{sb_id}", cast_to=object)
        if board["status"] in statuses:
            return board
        await asyncio.sleep(0.1)
    raise AssertionError(f"storyboard stuck in {board['status']}")


async def image_bytes(url: str) -> bytes:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        assert response.status_code == 200
        return response.content


async def test_create_poll_regenerate_approve_download(demo: Demo) -> None:
    await demo.start(storyboard={"max_parallel": 2})
    sdk = client(demo)
    created = await sdk.post("/storyboards", cast_to=object, body={
        "story": STORY, "style": "watercolor, muted", "size": "1792x1024"})
    assert created["object"] == "storyboard" and created["status"] == "planning" and created["id"].startswith("sb_")
    assert created["model"] == "gemini-3.1-flash-image-landscape"  # the default alias, resolved with the size

    board = await poll(sdk, created["id"])
    assert board["status"] == "ready"
    assert all(s["status"] == "done" and s["error"] is None for s in board["scenes"])
    images = [await image_bytes(s["image_url"]) for s in board["scenes"]]
    assert all(data.startswith((PNG, JPEG)) for data in images)

    # regenerate scene 1 with a new prompt: it is queued, then done with a different image
    again = await sdk.post(f"/storyboards/{board['id']}/scenes/1/regenerate", cast_to=object,
                           body={"prompt": "an old fisherman mending nets at night, lantern light"})
    assert again["status"] == "generating" and again["scenes"][1]["status"] == "queued"
    board = await poll(sdk, board["id"])
    assert board["scenes"][1]["prompt"] == "an old fisherman mending nets at night, lantern light"
    assert board["scenes"][1]["image_url"] != again["scenes"][1]["image_url"]
    assert await image_bytes(board["scenes"][1]["image_url"]) != images[1]

    approved = await sdk.post(f"/storyboards/{board['id']}/approve", cast_to=object, body={"all": True})
    assert approved["status"] == "approved" and {s["status"] for s in approved["scenes"]} == {"approved"}

    response = await sdk.get(f"/storyboards/{board['id']}/download", cast_to=httpx.Response)
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    pictures = [n for n in names if n not in ("storyboard.json", "index.html")]
    assert len(pictures) == len(board["scenes"]) and {"storyboard.json", "index.html"} <= set(names)
    assert pictures[0].startswith("01-mira-a-young-lighthouse-keeper")
    for name in pictures:
        assert archive.read(name).startswith((PNG, JPEG)), name
    exported = json.loads(archive.read("storyboard.json"))
    assert [s["image_url"] for s in exported["scenes"]] == pictures  # URLs replaced by the file names
    sheet = archive.read("index.html").decode()
    assert all(f'src="{n}"' in sheet for n in pictures) and "lighthouse keeper" in sheet


async def test_download_defaults_to_approved_scenes_and_keys_see_only_their_own(demo: Demo) -> None:
    await demo.start()
    sdk = client(demo)
    board = await poll(sdk, (await sdk.post("/storyboards", cast_to=object, body={"story": STORY, "scenes": 3}))["id"])
    assert len(board["scenes"]) == 3
    with pytest.raises(openai.ConflictError):  # nothing approved yet
        await sdk.get(f"/storyboards/{board['id']}/download", cast_to=httpx.Response)
    await sdk.post(f"/storyboards/{board['id']}/approve", cast_to=object, body={"scenes": [0, 2]})
    only = zipfile.ZipFile(io.BytesIO(
        (await sdk.get(f"/storyboards/{board['id']}/download", cast_to=httpx.Response)).content))
    assert [n[:3] for n in only.namelist()[:-2]] == ["01-", "03-"]
    every = zipfile.ZipFile(io.BytesIO((await sdk.get(
        f"/storyboards/{board['id']}/download", cast_to=httpx.Response, options={"params": {"scenes": "all"}})).content))
    assert len(every.namelist()) == 5

    # another key sees none of it
    record, other_key = await demo.app[API_KEYS].create("other")
    other = client(demo, other_key)
    assert (await other.get("/storyboards", cast_to=object))["data"] == []
    with pytest.raises(openai.NotFoundError):
        await other.get(f"/storyboards/{board['id']}", cast_to=object)
    with pytest.raises(openai.NotFoundError):
        await other.delete(f"/storyboards/{board['id']}", cast_to=object)

    listed = await sdk.get("/storyboards", cast_to=object)
    assert [b["id"] for b in listed["data"]] == [board["id"]] and listed["has_more"] is False
    deleted = await sdk.delete(f"/storyboards/{board['id']}", cast_to=object)
    assert deleted == {"id": board["id"], "object": "storyboard.deleted", "deleted": True}
    async with httpx.AsyncClient() as http:
        assert (await http.get(board["scenes"][0]["image_url"])).status_code == 404  # its media went with it
    with pytest.raises(openai.NotFoundError):
        await sdk.get(f"/storyboards/{board['id']}", cast_to=object)
