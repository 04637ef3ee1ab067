"""Videos API jobs made from an existing video (remix, edits, extensions) over the scripted fake providers:
what the provider is asked (operation, source media id, the owner's account), durability across a restart,
Idempotency-Key, and the model choice by the source's family. The emulator tests of each family
(plugins/*/tests) show the upstream side."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import aiohttp
import pytest
import yaml
from openai import BadRequestError, ConflictError
from openai.types import Video

from flow2api.plugin import Progress, Submitted
from flow2api.storage.tasks import TASKS
from flow2api.testing import playable_mp4
from tests.api.conftest import MP4, VIDEO_MODEL, FakeWorld, SdkFactory
from tests.api.test_videos import eventually, wait_status
from tests.conftest import API_KEY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated


def with_edit_models(fake: FakeWorld, tmp_path: Path) -> dict[str, dict[str, str]]:
    """The fake catalog plus ``fake-edit-portrait`` and ``fake-edit`` (edit only); the settings that load it."""
    catalog = yaml.safe_load(fake.catalog.read_text(encoding="utf-8"))
    catalog["models"] += [
        {"id": "fake-edit-portrait", "kind": "video", "routes": [
            {"provider": "fake-video", "options": {"aspect_ratio": "portrait"}, "operations": ["edit"]}]},
        {"id": "fake-edit", "kind": "video", "routes": [
            {"provider": "fake-video", "options": {}, "operations": ["edit"]}]},
    ]
    path = tmp_path / "edit-models.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")
    return {"catalog": {"path": str(path)}}


async def test_a_remix_runs_on_the_sources_account_and_survives_a_restart(
    fake: FakeWorld, sdk: SdkFactory, tmp_path: Path,
) -> None:
    sections = with_edit_models(fake, tmp_path)
    gw = await fake.start(accounts=3, **sections)
    client = sdk(gw)
    source = await client.videos.create(model=VIDEO_MODEL, prompt="a paper boat")
    await wait_status(client, source.id, "completed")
    owner = (await gw.app[TASKS].get(source.id)).account_id
    forever = asyncio.Event()
    fake.video.plans.append([Submitted({"operation": "op-R"}), Progress("editing", 30), forever])
    remix = await client.videos.remix(source.id, prompt="at night")
    assert remix.remixed_from_video_id == source.id and remix.model == "fake-edit"

    async def accepted() -> bool:
        return bool((await gw.app[TASKS].get(remix.id)).resume)

    await eventually(accepted)
    call = fake.video.calls[-1]
    assert call.job.operation == "edit" and call.job.extend_media_id == "vid-1" and call.job.images == ()
    assert call.account.view.id == owner and call.job.prompt == "at night"
    await gw.server.close()  # stop while upstream holds the edit

    gw2 = await fake.start(accounts=3, **sections)
    client2 = sdk(gw2)
    done = await wait_status(client2, remix.id, "completed", "failed")
    assert done.status == "completed" and done.remixed_from_video_id == source.id and done.seconds == "8"
    assert [(state, c.account.view.id) for c, state in fake.video.resumes] == [({"operation": "op-R"}, owner)]
    assert len(fake.video.calls) == 2  # the source and the remix: nothing submitted again
    assert (await client2.videos.download_content(remix.id)).content == MP4


async def test_remix_honours_the_idempotency_key(fake: FakeWorld, sdk: SdkFactory, tmp_path: Path) -> None:
    gw = await fake.start(**with_edit_models(fake, tmp_path))
    client = sdk(gw)
    source = await client.videos.create(model=VIDEO_MODEL, prompt="waves")
    await wait_status(client, source.id, "completed")
    key = {"Idempotency-Key": "remix-1"}
    first = await client.videos.remix(source.id, prompt="stormy", extra_headers=key)
    again = await client.videos.with_raw_response.remix(source.id, prompt="stormy", extra_headers=key)
    assert again.parse().id == first.id and again.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(ConflictError):
        await client.videos.remix(source.id, prompt="calm", extra_headers=key)
    await wait_status(client, first.id, "completed")
    assert len(fake.video.calls) == 2


async def test_an_edit_picks_the_uploads_aspect_and_a_json_data_uri_works(
    fake: FakeWorld, sdk: SdkFactory, tmp_path: Path,
) -> None:
    gw = await fake.start(**with_edit_models(fake, tmp_path))
    client = sdk(gw)
    portrait = playable_mp4(32, 48)
    edit = await client.videos.edit(prompt="snow", video=("clip.mp4", portrait, "video/mp4"))
    assert edit.model == "fake-edit-portrait"
    uri = "data:video/mp4;base64," + base64.b64encode(playable_mp4(48, 32)).decode()
    landscape = await client.post("/videos/edits", body={"prompt": "rain", "video": uri}, cast_to=Video)
    assert landscape.model == "fake-edit"
    for job in (edit, landscape):
        assert (await wait_status(client, job.id, "completed", "failed")).status == "completed"
    uploaded = [c.job.images[0] for c in fake.video.calls]
    assert sorted((i.mime_type, i.data == portrait) for i in uploaded) == [("video/mp4", False), ("video/mp4", True)]
    assert all(c.job.operation == "edit" and c.job.extend_media_id is None for c in fake.video.calls)
    with pytest.raises(BadRequestError) as refused:
        await client.post("/videos/edits", body={"prompt": "x", "video": "data:video/mp4;base64,AAAA"}, cast_to=Video)
    assert refused.value.body["param"] == "video"
    with pytest.raises(BadRequestError) as refused:
        await client.post("/videos/edits", body={"prompt": "x", "model": VIDEO_MODEL, "video": uri}, cast_to=Video)
    assert "operation 'edit'" in refused.value.body["message"]


async def test_a_multipart_video_id_and_the_refusals_before_anything_runs(
    fake: FakeWorld, sdk: SdkFactory, tmp_path: Path,
) -> None:
    gw = await fake.start(**with_edit_models(fake, tmp_path))
    client = sdk(gw)
    forever = asyncio.Event()
    fake.video.plans.append([Submitted({"operation": "op-slow"}), forever])
    running = await client.videos.create(model=VIDEO_MODEL, prompt="slow")
    with pytest.raises(BadRequestError) as refused:   # the source must be completed
        await client.videos.remix(running.id, prompt="x")
    assert "only a completed video" in refused.value.body["message"]
    source = await client.videos.create(model=VIDEO_MODEL, prompt="fast")
    await wait_status(client, source.id, "completed")
    form = aiohttp.FormData({"prompt": "in pencil", "video[id]": source.id})
    async with aiohttp.ClientSession() as http, http.post(
            f"{gw.url}/v1/videos/edits", data=form, headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
        assert resp.status == 200
        edit = await resp.json()
    assert edit["model"] == "fake-edit"
    with pytest.raises(BadRequestError) as refused:   # a model that cannot edit
        await client.post("/videos/edits", body={"prompt": "x", "model": VIDEO_MODEL, "video": {"id": source.id}},
                          cast_to=Video)
    assert "operation 'edit'" in refused.value.body["message"] and refused.value.body["param"] == "model"
    with pytest.raises(BadRequestError) as refused:   # no source, or two
        await client.post("/videos/edits", body={"prompt": "x"}, cast_to=Video)
    assert refused.value.body["param"] == "video"
    with pytest.raises(BadRequestError) as refused:   # the fake family has no extend model
        await client.post("/videos/extensions", body={"prompt": "x", "seconds": "8", "video": {"id": source.id}},
                          cast_to=Video)
    assert "operation 'extend'" in refused.value.body["message"]
    await wait_status(client, edit["id"], "completed")
    assert len(fake.video.calls) == 3  # the two sources and the one edit
