"""The shipped catalog's flow.google.com extend models (``flow_extend``, ``flow_extend_portrait``, models.yaml's
flowweb block) through the official SDK's ``videos.extend`` against the emulator (fZytfe, spec §5.7)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from flowweb_helpers import FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, flowweb_settings, sdk
from test_flowweb_videos_api import finished

from flow2api.testing import REPO, Gateway

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated


@pytest.fixture
async def shipped_gateway(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> Gateway:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, catalog=REPO / "models.yaml"),
                                  FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("alice@example.com", tier=2, credits=500))
    return gateway


@pytest.mark.parametrize(("model", "extend_model", "aspect"), [
    ("veo_3_1_t2v_lite_landscape", "flow_extend", 2),
    ("veo_3_1_t2v_lite_portrait", "flow_extend_portrait", 1),
])
async def test_videos_extend_continues_a_flowweb_video(shipped_gateway: Gateway, flowweb: FlowWeb, model: str,
                                                       extend_model: str, aspect: int) -> None:
    client = sdk(shipped_gateway)
    source = await finished(client, (await client.videos.create(model=model, prompt="a train leaves")).id)
    assert source.status == "completed", source.error
    media_id = next(m.id for m in flowweb.emulator.world.media.values() if m.kind == "video")

    # openai 3.6x's videos.extend checks that ``video`` is a file before sending, so a {"id"} reference (the API's
    # other form, which the SDK then flattens to the multipart field video[id]) goes through extra_body.
    extension = await client.videos.extend(prompt="it enters a tunnel", seconds="7", video=openai.NOT_GIVEN,
                                           extra_body={"video": {"id": source.id}})
    done = await finished(client, extension.id)
    assert done.status == "completed", done.error
    assert done.model == extend_model and done.seconds == "15"  # 8 s + the 7 s extension, stitched total
    [call] = flowweb.emulator.calls("fZytfe")
    item = call.args[0][0]
    assert item[0][1] == media_id and item[2] == "veo_3_1_extend_lite" and item[3] == aspect
    assert (await client.videos.download_content(extension.id)).content[4:8] == b"ftyp"


async def test_the_extend_models_are_listed_and_a_prompt_alone_fails(shipped_gateway: Gateway) -> None:
    client = sdk(shipped_gateway)
    listed = {m.id for m in (await client.models.list()).data}
    assert {"flow_extend", "flow_extend_portrait"} <= listed
    job = await client.videos.create(model="flow_extend", prompt="no source")
    done = await finished(client, job.id)  # the Videos API queues first; the catalog refuses the operation
    assert done.status == "failed" and "operation 'text'" in done.error.message
