"""The Images API through the official ``openai`` SDK: fan-out over accounts, formats, hints, edits, failures."""

from __future__ import annotations

import base64

import aiohttp
import pytest
from openai import BadRequestError, InternalServerError

from flow2api.errors import GenerationFailedError
from flow2api.storage.tasks import TASKS
from tests.api.conftest import IMAGE_MODEL, FakeWorld, SdkFactory, png
from tests.conftest import API_KEY, Gateway

PNG = b"\x89PNG\r\n\x1a\n"



async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200 and r.content_type == "image/png"
        return await r.read()


async def test_n_images_fan_out_over_accounts_in_parallel(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.default = [0.2, *fake.image.default]  # long enough that the three overlap
    gw = await fake.start(accounts=3)
    response = await sdk(gw).images.generate(model=IMAGE_MODEL, prompt="three cats", n=3)
    assert len(response.data) == 3 and response.created > 0
    for image in response.data:
        assert (await fetch(image.url)).startswith(PNG)
    assert [c.job.n for c in fake.image.calls] == [1, 1, 1]
    assert len({c.account.view.id for c in fake.image.calls}) == 3  # one lease each, least-busy spreads them
    task_ids = sorted(c.job.request_id for c in fake.image.calls)  # one task row per image: <request id>-<index>
    assert [t.rsplit("-", 1)[1] for t in task_ids] == ["0", "1", "2"]
    assert [(await gw.app[TASKS].get(t)).status for t in task_ids] == ["completed"] * 3


async def test_b64_json_returns_the_bytes(fake: FakeWorld, sdk: SdkFactory) -> None:
    image = png(12, 34)
    fake.image.default = [fake.image.default[0], type(fake.image.default[1])(
        kind=fake.image.default[1].kind, mime_type="image/png", data=image)]
    gw = await fake.start()
    response = await sdk(gw).images.generate(model=IMAGE_MODEL, prompt="x", response_format="b64_json")
    assert base64.b64decode(response.data[0].b64_json) == image and response.data[0].url is None


async def test_partial_failure_returns_the_successes_and_an_error_extension(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.plans.append([GenerationFailedError("one image was refused")])
    gw = await fake.start()
    response = await sdk(gw).images.generate(model=IMAGE_MODEL, prompt="x", n=3)
    assert len(response.data) == 2
    extension = response.model_extra["flow2api"]
    assert extension["requested"] == 3 and len(extension["errors"]) == 1
    error = extension["errors"][0]
    assert error["index"] in (0, 1, 2) and error["error"]["code"] == "generation_failed"


async def test_all_failed_is_an_error(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.default = [GenerationFailedError("refused")]
    gw = await fake.start()
    with pytest.raises(InternalServerError) as err:  # 502 upstream_error
        await sdk(gw).images.generate(model=IMAGE_MODEL, prompt="x", n=2)
    assert err.value.status_code == 502 and err.value.body["code"] == "generation_failed"


@pytest.mark.parametrize(("size", "quality", "model"), [
    ("1024x1792", None, "fake-image-portrait"),
    ("1792x1024", "medium", "fake-image-2k"),
    (None, None, IMAGE_MODEL),
])
async def test_size_and_quality_pick_the_alias_variant(fake: FakeWorld, size: str | None, quality: str | None,
                                                       model: str, sdk: SdkFactory) -> None:
    gw = await fake.start()
    extra = {k: v for k, v in (("size", size), ("quality", quality)) if v}
    await sdk(gw).images.generate(model="fake-img", prompt="x", **extra)
    assert fake.image.calls[-1].job.model == model


@pytest.mark.parametrize(("body", "param"), [
    ({"model": IMAGE_MODEL, "prompt": "x", "n": 11}, "n"),
    ({"model": IMAGE_MODEL, "prompt": "x", "n": 0}, "n"),
    ({"model": IMAGE_MODEL, "prompt": "x", "n": True}, "n"),
    ({"model": IMAGE_MODEL, "prompt": "x", "response_format": "gif"}, "response_format"),
    ({"model": IMAGE_MODEL}, "prompt"),
    ({"prompt": "x"}, "model"),
    ({"model": "fake-video-8s", "prompt": "x"}, "model"),
])
async def test_bad_generation_requests_are_400(fake: FakeWorld, body: dict, param: str) -> None:
    gw = await fake.start()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http, http.post(f"{gw.url}/v1/images/generations", json=body,
                                                          headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"]["param"] == param
    assert fake.image.calls == []


async def test_edit_with_one_and_several_images(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    a, b = png(30, 30, (1, 1, 1)), png(40, 30, (2, 2, 2))
    one = await sdk(gw).images.edit(model=IMAGE_MODEL, image=("a.png", a, "image/png"), prompt="add a hat")
    assert (await fetch(one.data[0].url)).startswith(PNG)
    assert [i.data for i in fake.image.calls[-1].job.images] == [a]
    await sdk(gw).images.edit(model=IMAGE_MODEL, image=[("a.png", a, "image/png"), ("b.png", b, "image/png")],
                              prompt="merge", n=2)
    assert [[i.data for i in c.job.images] for c in fake.image.calls[-2:]] == [[a, b], [a, b]]


async def test_edit_image_shape_picks_the_alias_aspect(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    await sdk(gw).images.edit(model="fake-img", image=("tall.png", png(90, 160), "image/png"), prompt="x")
    assert fake.image.calls[-1].job.model == "fake-image-portrait"


async def test_edit_with_a_mask_is_refused(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    with pytest.raises(BadRequestError) as err:
        await sdk(gw).images.edit(model=IMAGE_MODEL, image=("a.png", png(), "image/png"),
                                  mask=("m.png", png(), "image/png"), prompt="x")
    assert err.value.body["param"] == "mask" and "mask" in err.value.message
    assert fake.image.calls == []


async def test_edit_without_an_image_is_400(fake: FakeWorld) -> None:
    gw = await fake.start()
    form = aiohttp.FormData({"model": IMAGE_MODEL, "prompt": "x"})
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http, http.post(f"{gw.url}/v1/images/edits", data=form, headers=headers) as r:
        assert r.status == 400 and (await r.json())["error"]["param"] == "image"


