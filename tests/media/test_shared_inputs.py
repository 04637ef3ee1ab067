"""Input images of a queued video job live in the media store (``inputs/<task id>/``), so another instance that
claims the job reads them (issue 17): two gateways with their own data directories on one database and one
bucket (moto's S3 server), A dying before upstream accepted the job (its tasks named ``…@A`` cancelled, as
tests/jobs/test_runner_leases.py does), B claiming it after the lease."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from flow2api.media import MEDIA, VIDEO_INPUTS
from flow2api.plugin import InputImage
from flow2api.storage.tasks import TASKS
from flow2api.testing import FAKE_VIDEO_MODEL, FakeWorld, Gateway, S3Server, png, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # botocore's utcnow
LEASE_S = 1.0


async def start(fake: FakeWorld, tmp_path: Path, name: str, cache: dict[str, Any], key: str) -> Gateway:
    """Instance ``name``: data directory of its own, the shared SQLite database and secrets key, ``cache``."""
    return await fake.start(
        cache=cache, server={"instance_id": name}, jobs={"lease_seconds": LEASE_S, "claim_interval": 0.2},
        storage={"data_dir": str(tmp_path / f"data-{name}"), "url": f"sqlite:///{tmp_path / 'shared.db'}",
                 "secret_key": key},
    )


async def status_of(gw: Gateway, task_id: str) -> str | None:
    record = await gw.app[TASKS].get(task_id)
    return record.status if record and record.status == "completed" else None


async def test_a_job_queued_on_a_dead_instance_is_run_by_another_with_its_input_image(
    fake: FakeWorld, sdk: Callable, s3_server: S3Server, s3_cache: dict[str, Any], tmp_path: Path,
) -> None:
    key = Fernet.generate_key().decode()
    gate = asyncio.Event()  # never set: A's attempt hangs before upstream accepts (no resume state stored)
    fake.video.plans.append([gate])
    a = await start(fake, tmp_path, "A", s3_cache, key)
    b = await start(fake, tmp_path, "B", s3_cache, key)
    image = png(40, 30, (200, 10, 10))
    video = await sdk(a).videos.create(model=FAKE_VIDEO_MODEL, prompt="from a file",
                                       input_reference=("ref.png", image, "image/png"))
    await until(lambda: asyncio.sleep(0, len(fake.video.calls) == 1), 10)  # A's attempt is waiting upstream
    bucket = s3_server.client()
    listed = bucket.list_objects_v2(Bucket=s3_cache["s3_bucket"], Prefix=f"media/inputs/{video.id}/")
    assert [o["Key"] for o in listed.get("Contents", ())] == [f"media/inputs/{video.id}/0.png"]
    assert not (tmp_path / "data-A" / "inputs").exists() and not (tmp_path / "data-A" / "media").exists()

    for task in asyncio.all_tasks():  # A dies: its leases are neither renewed nor released
        if task.get_name().endswith("@A"):
            task.cancel()
    await until(lambda: status_of(b, video.id), 20, interval=0.05)
    record = await b.app[TASKS].get(video.id)
    assert record.lease_owner == "B"
    assert len(fake.video.calls) == 2 and [i.data for i in fake.video.calls[1].job.images] == [image]
    # The job ended: its inputs leave the bucket (just after the row is closed); either instance serves the result.

    async def inputs_gone() -> bool:
        listed = bucket.list_objects_v2(Bucket=s3_cache["s3_bucket"], Prefix=f"media/inputs/{video.id}/")
        return listed.get("KeyCount", 0) == 0

    await until(inputs_gone, 10, interval=0.05)
    content = await sdk(a).videos.download_content(video.id)
    assert content.content


async def test_inputs_are_never_swept_nor_served_as_media(
    fake: FakeWorld, s3_cache: dict[str, Any], tmp_path: Path,
) -> None:
    for cache in ({"timeout": 1}, {**s3_cache, "timeout": 1}):  # the local directory, then the bucket
        gw = await fake.start(cache=cache, storage={"data_dir": str(tmp_path / f"data-{cache.get('backend')}")})
        image = png(8, 8)
        names = await gw.app[VIDEO_INPUTS].save("video_x", (InputImage(data=image, mime_type="image/png"),))
        assert names == ["0.png"]
        await asyncio.sleep(1.2)  # past the media TTL
        await gw.app[MEDIA].sweep()
        assert [i.data for i in await gw.app[VIDEO_INPUTS].load("video_x", names)] == [image]
        assert await gw.app[MEDIA].read_bytes("inputs") is None and len(gw.app[MEDIA]) == 0
        await gw.app[VIDEO_INPUTS].delete("video_x")
        with pytest.raises(FileNotFoundError):
            await gw.app[VIDEO_INPUTS].load("video_x", names)
        with pytest.raises(ValueError):
            await gw.app[VIDEO_INPUTS].load("../video_x", names)
