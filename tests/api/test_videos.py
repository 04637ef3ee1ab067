"""The Videos API through the official ``openai`` SDK (``client.videos.*``) against scripted fake providers.

Includes the restart drill: jobs in flight when the server stops are taken up
by a new app on the same data directory and complete, resumed on the same
account without submitting again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI, BadRequestError, ConflictError, NotFoundError

from flow2api.apikeys import API_KEYS
from flow2api.errors import GenerationFailedError, UpstreamUnavailableError
from flow2api.plugin import Progress, Submitted, Submitting
from flow2api.settings import SETTINGS
from flow2api.storage.tasks import TASKS
from tests.api.conftest import MP4, VIDEO_MODEL, VIDEO_PORTRAIT_MODEL, FakeWorld, SdkFactory, png, video_plan
from tests.conftest import API_KEY, Gateway

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated



async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (a real client polls too)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def wait_status(client: AsyncOpenAI, video_id: str, *statuses: str) -> Any:
    async def check() -> Any:
        video = await client.videos.retrieve(video_id)
        return video if video.status in statuses else None

    return await eventually(check)


async def test_create_poll_download_list_delete_with_the_sdk(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    video = await client.videos.create(model=VIDEO_MODEL, prompt="a paper boat", seconds="8", size="1280x720")
    assert video.object == "video" and video.id.startswith("video_")
    assert video.status in ("queued", "in_progress") and video.model == VIDEO_MODEL
    assert video.seconds == "8" and video.size == "1280x720" and video.prompt == "a paper boat"
    done = await wait_status(client, video.id, "completed", "failed")
    assert done.status == "completed" and done.progress == 100 and done.error is None
    assert done.completed_at >= done.created_at and done.expires_at > done.completed_at
    assert done.model_extra["flow2api"]["model"] == VIDEO_MODEL
    content = await client.videos.download_content(video.id)
    assert content.content == MP4
    page = await client.videos.list(limit=10)
    assert [v.id for v in page.data] == [video.id]
    deleted = await client.videos.delete(video.id)
    assert deleted.deleted is True and deleted.object == "video.deleted" and deleted.id == video.id
    with pytest.raises(NotFoundError):
        await client.videos.retrieve(video.id)
    assert (await client.videos.list()).data == []
    assert [c.job.prompt for c in fake.video.calls] == ["a paper boat"]


async def test_content_supports_range_requests(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    video = await client.videos.create(model=VIDEO_MODEL, prompt="waves")
    await wait_status(client, video.id, "completed")
    headers = {"Authorization": f"Bearer {API_KEY}", "Range": "bytes=4-11"}
    url = f"{gw.url}/v1/videos/{video.id}/content"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        assert r.status == 206 and r.headers["Content-Type"] == "video/mp4"
        assert r.headers["Content-Range"] == f"bytes 4-11/{len(MP4)}"
        assert await r.read() == MP4[4:12]


async def test_progress_is_visible_while_running(fake: FakeWorld, sdk: SdkFactory) -> None:
    release = asyncio.Event()
    fake.video.plans.append([Submitted({"op": "x"}), Progress("rendering", 40), release, *video_plan()[2:]])
    gw = await fake.start()
    client = sdk(gw)
    video = await client.videos.create(model=VIDEO_MODEL, prompt="slow")
    running = await wait_status(client, video.id, "in_progress")
    await eventually(lambda: _progress_at_least(client, video.id, 40))
    assert running.status == "in_progress"
    with pytest.raises(BadRequestError):  # not ready yet
        await client.videos.download_content(video.id)
    with pytest.raises(BadRequestError):  # OpenAI deletes only finished videos
        await client.videos.delete(video.id)
    release.set()
    assert (await wait_status(client, video.id, "completed")).progress == 100


async def _progress_at_least(client: AsyncOpenAI, video_id: str, percent: int) -> bool:
    return (await client.videos.retrieve(video_id)).progress >= percent


async def test_json_body_with_an_input_reference_data_uri(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    image = png(720, 1280)
    body = {"model": "fake-video", "prompt": "animate it", "input_reference": {
        "image_url": "data:image/png;base64," + base64.b64encode(image).decode()}}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http, http.post(f"{gw.url}/v1/videos", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        created = await r.json()
    assert created["model"] == "fake-video"  # the requested id is echoed …
    await wait_status(sdk(gw), created["id"], "completed")
    call = fake.video.calls[0]
    assert [i.data for i in call.job.images] == [image]
    assert call.job.model == VIDEO_PORTRAIT_MODEL  # … while the alias resolved by the portrait image's shape


async def test_multipart_upload_with_the_sdk(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    image = png(40, 30)
    video = await sdk(gw).videos.create(
        model=VIDEO_MODEL, prompt="from a file", input_reference=("ref.png", image, "image/png"))
    await wait_status(sdk(gw), video.id, "completed")
    assert fake.video.calls[0].job.images[0].data == image
    # A reference object in a multipart body is flattened to the field input_reference[image_url].
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    form = aiohttp.MultipartWriter("form-data")
    for name, value in {"model": VIDEO_MODEL, "prompt": "from a URL", "input_reference[image_url]": uri}.items():
        form.append(value).set_content_disposition("form-data", name=name)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http, http.post(f"{gw.url}/v1/videos", data=form, headers=headers) as r:
        assert r.status == 200, await r.text()
        second = await r.json()
    await wait_status(sdk(gw), second["id"], "completed")
    assert fake.video.calls[1].job.images[0].data == image


async def test_idempotency_key_same_body_same_job_other_body_409(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    headers = {"Idempotency-Key": "order-42"}
    first = await client.videos.create(model=VIDEO_MODEL, prompt="once", extra_headers=headers)
    again = await client.videos.create(model=VIDEO_MODEL, prompt="once", extra_headers=headers)
    assert again.id == first.id
    with pytest.raises(ConflictError) as err:
        await client.videos.create(model=VIDEO_MODEL, prompt="something else", extra_headers=headers)
    assert err.value.status_code == 409 and err.value.body["code"] == "idempotency_key_reused"
    await wait_status(client, first.id, "completed")
    assert len(fake.video.calls) == 1


async def test_only_the_creating_key_sees_a_job(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    _, other_key = await gw.app[API_KEYS].create("team-b")
    mine = await sdk(gw).videos.create(model=VIDEO_MODEL, prompt="private")
    theirs = sdk(gw, other_key)
    with pytest.raises(NotFoundError):
        await theirs.videos.retrieve(mine.id)
    with pytest.raises(NotFoundError):
        await theirs.videos.download_content(mine.id)
    assert (await theirs.videos.list()).data == []
    own = await theirs.videos.create(model=VIDEO_MODEL, prompt="theirs")
    assert [v.id for v in (await theirs.videos.list()).data] == [own.id]
    # The same Idempotency-Key under another key is another job.
    a = await sdk(gw).videos.create(model=VIDEO_MODEL, prompt="k", extra_headers={"Idempotency-Key": "shared"})
    b = await theirs.videos.create(model=VIDEO_MODEL, prompt="k", extra_headers={"Idempotency-Key": "shared"})
    assert a.id != b.id


async def test_list_is_paginated_newest_first(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    ids = [(await client.videos.create(model=VIDEO_MODEL, prompt=f"p{i}")).id for i in range(5)]
    first = await client.videos.list(limit=2)
    assert [v.id for v in first.data] == ids[::-1][:2] and first.has_more
    collected = [v.id async for v in client.videos.list(limit=2)]  # the SDK follows last_id → after
    assert collected == ids[::-1]
    ascending = await client.videos.list(limit=10, order="asc")
    assert [v.id for v in ascending.data] == ids and not ascending.has_more


async def test_failed_generation_is_reported_on_the_job(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.video.plans.append([Submitted({"op": "bad"}), GenerationFailedError("Upstream rejected the video.")])
    gw = await fake.start()
    client = sdk(gw)
    video = await client.videos.create(model=VIDEO_MODEL, prompt="doomed")
    failed = await wait_status(client, video.id, "failed", "completed")
    assert failed.status == "failed"
    assert failed.error.code == "generation_failed" and "rejected" in failed.error.message


async def test_failover_before_commit_keeps_the_job_queued_then_completes(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.video.plans.append([UpstreamUnavailableError("upstream 503")])
    gw = await fake.start(accounts=2)
    client = sdk(gw)
    video = await client.videos.create(model=VIDEO_MODEL, prompt="retry me")
    assert (await wait_status(client, video.id, "completed", "failed")).status == "completed"
    accounts = [c.account.view.id for c in fake.video.calls]
    assert len(accounts) == 2 and accounts[0] != accounts[1]


@pytest.mark.parametrize(("body", "param"), [
    ({"model": VIDEO_MODEL, "prompt": "x", "seconds": "4"}, "seconds"),
    ({"model": "fake-image", "prompt": "x"}, "model"),
    ({"model": VIDEO_MODEL}, "prompt"),
    ({"model": VIDEO_MODEL, "prompt": "x", "input_reference": {"file_id": "file-1"}}, "input_reference"),
])
async def test_bad_create_requests_are_400(fake: FakeWorld, body: dict, param: str) -> None:
    gw = await fake.start()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http, http.post(f"{gw.url}/v1/videos", json=body, headers=headers) as r:
        assert r.status == 400
        error = (await r.json())["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert fake.video.calls == []


async def test_restart_resumes_jobs_in_flight(fake: FakeWorld, sdk: SdkFactory) -> None:
    # Two jobs are accepted upstream and hang; a third waits for a worker (video_workers = 2).
    forever = asyncio.Event()
    fake.video.plans.extend([
        [Submitted({"operation": "op-A"}), Progress("rendering", 30), forever],
        [Submitted({"operation": "op-B"}), Progress("rendering", 30), forever],
    ])
    sections = {"generation": {"video_workers": 2}}
    gw = await fake.start(accounts=2, **sections)
    client = sdk(gw)
    ids = [(await client.videos.create(model=VIDEO_MODEL, prompt=f"job {i}")).id for i in range(3)]
    tasks = gw.app[TASKS]

    async def accepted() -> bool:
        rows = [await tasks.get(i) for i in ids[:2]]
        return all(r.resume for r in rows)

    await eventually(accepted)
    assert (await client.videos.retrieve(ids[2])).status == "queued"
    before = {(await tasks.get(i)).resume["operation"]: (await tasks.get(i)).account_id for i in ids[:2]}
    await gw.server.close()  # stop: the jobs are cancelled, their rows stay unfinished

    generated_before = len(fake.video.calls)
    gw2 = await fake.start(accounts=2, **sections)
    client2 = sdk(gw2)
    for video_id in ids:
        assert (await wait_status(client2, video_id, "completed", "failed")).status == "completed", video_id
    resumed = {state["operation"]: call.account.view.id for call, state in fake.video.resumes}
    assert set(resumed) == {"op-A", "op-B"}
    assert resumed == before  # each job resumed on the account upstream holds it in
    assert len(fake.video.calls) == generated_before + 1  # only the never-submitted job went upstream again
    assert fake.video.calls[-1].job.prompt == "job 2"
    assert (await client2.videos.download_content(ids[0])).content == MP4


def stored_resume(gw: Gateway, video_id: str) -> Any:
    """The row's ``resume`` as committed to the database file (read by a connection of the test's own)."""
    path = gw.app[SETTINGS].current.storage.data_dir / "flow2api.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        (value,) = db.execute("SELECT resume FROM tasks WHERE id = ?", (video_id,)).fetchone()
    return json.loads(value) if value else None


async def test_a_submitting_checkpoint_is_on_disk_before_the_submit_and_resumed_after_a_restart(
    fake: FakeWorld, sdk: SdkFactory,
) -> None:
    forever = asyncio.Event()
    seen: list[Any] = []
    fake.video.plans.append([Submitting({"seed": "S-1"}), lambda: seen.append(stored_resume(gw, video.id)), forever])
    fake.video.resume_plans.append(video_plan(resume={"operation": "op-S"}))
    gw = await fake.start(accounts=2)
    client = sdk(gw)
    video = await client.videos.create(model=VIDEO_MODEL, prompt="checkpointed")
    await eventually(lambda: asyncio.sleep(0, bool(seen)))
    assert seen == [{"seed": "S-1"}]  # the provider went on (to its submit) only once the checkpoint was stored
    assert (await client.videos.retrieve(video.id)).status == "in_progress"
    account = (await gw.app[TASKS].get(video.id)).account_id
    await gw.server.close()

    gw2 = await fake.start(accounts=2)
    assert (await wait_status(sdk(gw2), video.id, "completed", "failed")).status == "completed"
    assert [(state, call.account.view.id) for call, state in fake.video.resumes] == [({"seed": "S-1"}, account)]
    assert len(fake.video.calls) == 1


async def test_a_checkpoint_does_not_commit_and_a_failover_drops_it(fake: FakeWorld, sdk: SdkFactory) -> None:
    seen: list[Any] = []
    fake.video.plans.extend([
        [Submitting({"seed": "S-A"}), UpstreamUnavailableError("submit refused: 503")],
        [lambda: seen.append(stored_resume(gw, video.id)), *video_plan(resume={"operation": "op-B"})],
    ])
    gw = await fake.start(accounts=2)
    client = sdk(gw)
    video = await client.videos.create(model=VIDEO_MODEL, prompt="fails over")
    assert (await wait_status(client, video.id, "completed", "failed")).status == "completed"
    accounts = [c.account.view.id for c in fake.video.calls]
    assert len(accounts) == 2 and accounts[0] != accounts[1]  # the checkpoint did not pin the job to account A
    assert seen == [None]  # the second account started without the first one's checkpoint
    assert stored_resume(gw, video.id) == {"operation": "op-B"}


async def test_video_objects_have_the_openai_shape(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http:
        body = {"model": VIDEO_MODEL, "prompt": "shape"}
        async with http.post(f"{gw.url}/v1/videos", json=body, headers=headers) as r:
            created = await r.json()
        await wait_status(sdk(gw), created["id"], "completed")
        async with http.get(f"{gw.url}/v1/videos/{created['id']}", headers=headers) as r:
            body = json.loads(await r.text())
    assert {"id", "object", "model", "status", "progress", "created_at", "completed_at", "expires_at", "prompt",
            "seconds", "size", "remixed_from_video_id", "error"} <= set(body)
    assert body["seconds"] == "8" and body["size"] == "1280x720"  # from the model when the request omits them


