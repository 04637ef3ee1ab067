"""Chat completions through the official ``openai`` SDK: stream shape, progress, keep-alive, videos, inputs, memory."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from openai import APIError, BadRequestError

from flow2api.errors import ContentPolicyError, GenerationFailedError, UpstreamUnavailableError
from flow2api.plugin import Kind, MediaOutput, Progress
from flow2api.storage.tasks import TASKS
from tests.api.conftest import IMAGE_MODEL, MP4, VIDEO_MODEL, FakeWorld, SdkFactory, png
from tests.conftest import API_KEY, Gateway

MARKDOWN_URL = re.compile(r"!\[Generated Image\]\((\S+)\)")



async def raw_stream(gw: Gateway, body: dict) -> str:
    """The undecoded SSE text of a streamed completion (to check framing the SDK hides)."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{gw.url}/v1/chat/completions"
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        return await r.text()


async def test_stream_is_spec_exact(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    stream = await sdk(gw).chat.completions.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "a red square"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert all(c.model == IMAGE_MODEL and c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    choice_chunks = [c for c in chunks if c.choices]
    assert [c.choices[0].finish_reason for c in choice_chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in choice_chunks[:-1])
    usage = chunks[-1]
    assert usage.choices == [] and usage.usage.total_tokens == 0
    thinking = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in choice_chunks)
    assert "drawing" in thinking
    content = "".join(c.choices[0].delta.content or "" for c in choice_chunks)
    assert MARKDOWN_URL.fullmatch(content)
    text = await raw_stream(gw, {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True})
    assert text.endswith("data: [DONE]\n\n") and text.startswith("data: {")


async def test_progress_can_go_to_content(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start(generation={"progress_field": "content"})
    stream = await sdk(gw).chat.completions.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
    deltas = [c.choices[0].delta async for c in stream if c.choices]
    assert not any(d.model_extra.get("reasoning_content") for d in deltas)
    assert any((d.content or "").startswith("drawing") for d in deltas)


async def test_keepalive_comments_during_silence(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.default = [Progress("started"), 0.35, *fake.image.default]
    gw = await fake.start(generation={"keepalive_interval": 0.05})
    text = await raw_stream(gw, {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True})
    assert text.count(": keep-alive\n\n") >= 3
    first_beat, first_data = text.index(": keep-alive"), text.index("data: ")
    assert first_data < first_beat  # only after the stream started
    stream = await sdk(gw).chat.completions.create(  # and the SDK reads through them
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
    content = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert MARKDOWN_URL.fullmatch(content)


async def test_no_keepalive_when_disabled(fake: FakeWorld) -> None:
    fake.image.default = [Progress("started"), 0.2, *fake.image.default]
    gw = await fake.start(generation={"keepalive_interval": 0})
    text = await raw_stream(gw, {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True})
    assert ": keep-alive" not in text


@pytest.mark.parametrize(("stream", "video_output", "pattern"), [
    (True, "tag", r"<video src='(\S+)' data-media-id='vid-1' controls style='max-width:100%'></video>"),
    (False, "tag", r"```html\n<video src='(\S+)' data-media-id='vid-1' controls></video>\n```"),
    (False, "link", r"\[Generated Video\]\((\S+)\)"),
])
async def test_video_result_rendering(
    fake: FakeWorld, stream: bool, video_output: str, pattern: str, sdk: SdkFactory,
) -> None:
    gw = await fake.start(generation={"video_output": video_output})
    messages = [{"role": "user", "content": "a boat"}]
    if stream:
        chunks = await sdk(gw).chat.completions.create(model=VIDEO_MODEL, messages=messages, stream=True)
        content = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    else:
        completion = await sdk(gw).chat.completions.create(model=VIDEO_MODEL, messages=messages)
        content = completion.choices[0].message.content
    match = re.fullmatch(pattern, content)
    assert match, content
    async with aiohttp.ClientSession() as http, http.get(match[1]) as r:
        assert r.content_type == "video/mp4" and await r.read() == MP4


async def test_error_after_the_stream_started_is_an_event(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.plans.append([Progress("working"), GenerationFailedError("The job failed upstream.")])
    gw = await fake.start()
    stream = await sdk(gw).chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}],
                                                   stream=True)
    with pytest.raises(APIError) as err:
        async for _ in stream:
            pass
    assert "failed upstream" in err.value.message
    fake.image.plans.append([Progress("working"), GenerationFailedError("again")])
    text = await raw_stream(gw, {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True})
    assert '"code":"generation_failed"' in text and text.endswith("data: [DONE]\n\n")


async def test_error_before_commit_is_an_http_error(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.plans.append([ContentPolicyError("The prompt was refused.")])
    gw = await fake.start()
    with pytest.raises(BadRequestError) as err:
        await sdk(gw).chat.completions.create(
            model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
    assert err.value.body["code"] == "content_policy_violation"


async def test_account_failure_before_commit_fails_over(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.plans.append([UpstreamUnavailableError("503 upstream")])
    gw = await fake.start(accounts=2)
    completion = await sdk(gw).chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}])
    assert MARKDOWN_URL.fullmatch(completion.choices[0].message.content)
    assert len({c.account.view.id for c in fake.image.calls}) == 2


async def test_input_images_from_data_uri_and_http_url(
    fake: FakeWorld, aiohttp_server: Callable, sdk: SdkFactory,
) -> None:
    served = png(30, 40, (0, 0, 255))

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=served, content_type="image/png")

    origin = web.Application()
    origin.router.add_get("/cat.png", image)
    server = await aiohttp_server(origin)
    gw = await fake.start(inputs={"allow_networks": ["127.0.0.1/32"]})  # the image host is on loopback here
    inline = png(10, 10)
    await sdk(gw).chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "combine"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(inline).decode()}},
        {"type": "image_url", "image_url": {"url": str(server.make_url("/cat.png"))}},
    ]}])
    job = fake.image.calls[-1].job
    assert [i.data for i in job.images] == [inline, served] and job.prompt == "combine"


async def test_input_image_limits(fake: FakeWorld) -> None:
    gw = await fake.start(generation={"max_input_image_bytes": 2048})
    big = png(300, 300, (1, 2, 3)) + b"\0" * 4096
    for data, status in ((big, 413), (b"GIF not really", 400)):
        uri = "data:image/png;base64," + base64.b64encode(data).decode()
        headers = {"Authorization": f"Bearer {API_KEY}"}
        body = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": uri}}]}]}
        async with aiohttp.ClientSession() as http, http.post(f"{gw.url}/v1/chat/completions", json=body,
                                                              headers=headers) as r:
            assert r.status == status
    assert fake.image.calls == []


async def test_multi_turn_edit_uses_the_previous_image_from_the_cache(fake: FakeWorld, sdk: SdkFactory) -> None:
    first_image = png(64, 64, (10, 200, 10))
    fake.image.plans.append([MediaOutput(Kind.IMAGE, mime_type="image/png", data=first_image)])
    gw = await fake.start()
    client = sdk(gw)
    first = await client.chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "a frog"}])
    answer = first.choices[0].message.content
    # Rewrite the host to one that cannot resolve: the image must come from the cache, not an HTTP self-call.
    offline = re.sub(r"https?://[^/]+", "http://flow2api.invalid", answer)
    await client.chat.completions.create(model=IMAGE_MODEL, messages=[
        {"role": "user", "content": "a frog"},
        {"role": "assistant", "content": f"Here it is:\n\n{offline}"},
        {"role": "user", "content": "make it blue"},
    ])
    job = fake.image.calls[-1].job
    assert job.prompt == "make it blue" and [i.data for i in job.images] == [first_image]


async def test_own_media_url_as_input_is_read_from_the_cache(fake: FakeWorld, sdk: SdkFactory) -> None:
    produced = png(20, 20, (9, 9, 9))
    fake.image.plans.append([MediaOutput(Kind.IMAGE, mime_type="image/png", data=produced)])
    gw = await fake.start()
    client = sdk(gw)
    url = MARKDOWN_URL.fullmatch((await client.chat.completions.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}])).choices[0].message.content)[1]
    offline = re.sub(r"https?://[^/]+", "https://flow2api.invalid", url)
    await client.chat.completions.create(model=VIDEO_MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "animate"}, {"type": "image_url", "image_url": {"url": offline}}]}])
    assert fake.video.calls[-1].job.images[0].data == produced


async def test_client_disconnect_before_the_submit_marks_the_task(fake: FakeWorld) -> None:
    # Before upstream accepted the job nothing is paid: a client that leaves ends it (after Submitted it would
    # finish in the background: tests/api/test_paid_work.py).
    never = asyncio.Event()
    fake.video.plans.append([Progress("rendering"), never])
    gw = await fake.start()
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "gone-away-1"}
    body = {"model": VIDEO_MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers) as r:
            task_id = r.headers["X-Request-ID"]  # the client's id plus a unique suffix names the task
            await r.content.readline()  # the stream started; now hang up
    assert task_id.startswith("gone-away-1.")
    tasks = gw.app[TASKS]
    for _ in range(200):
        task = await tasks.get(task_id)
        if task is not None and task.status == "failed":
            break
        await asyncio.sleep(0.02)
    assert task.status == "failed" and task.error.startswith("client_disconnected")
    assert gw.pool.in_flight(task.account_id, "video") == 0



@pytest.mark.parametrize("stream", [False, True])
async def test_a_job_past_its_time_limit_is_a_504_and_a_failed_task(fake: FakeWorld, stream: bool) -> None:
    fake.image.plans.append([Progress("drawing", 10), asyncio.Event()])  # never finishes
    gw = await fake.start(generation={"image_timeout": 0.4, "keepalive_interval": 0.05})
    body = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "slow"}], "stream": stream}
    async with aiohttp.ClientSession() as http, http.post(
            f"{gw.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}) as r:
        task_id = r.headers["X-Request-ID"]
        text = await r.text()
    if stream:  # the stream had started: the error is its last event (keep-alives ran the steps in other tasks)
        assert r.status == 200 and '"code": "upstream_timeout"' in text.replace('":"', '": "')
    else:
        assert r.status == 504 and '"upstream_timeout"' in text
    task = await gw.app[TASKS].get(task_id)
    assert task.status == "failed" and task.error.startswith("upstream_timeout: The image job did not finish within")
    assert gw.pool.in_flight(task.account_id, "image") == 0
