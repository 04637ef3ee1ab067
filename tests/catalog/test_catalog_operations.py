"""Per-route ``operations`` and alias ``durations``: a job only goes to a route that can do it; ``seconds`` picks a clip length.

A gateway of fake providers shows that a route which cannot do a job's operation is skipped, and that a model with
no such route answers 400 naming the operation (the shipped aliases are checked in
plugins/videofx/tests/gateway/test_gateway_catalog_aliases.py).
"""

from __future__ import annotations

import base64
from pathlib import Path

import openai
import pytest
import yaml

from flow2api.api.schemas.videos import VideoCreateRequest
from flow2api.catalog import CatalogError, load_catalog, parse_catalog
from flow2api.discovery import build_providers
from flow2api.errors import InvalidRequestError
from flow2api.plugin import Kind
from flow2api.settings import Settings
from flow2api.testing import FakeProvider, Script, make_settings, png, video_plan
from tests.catalog.catalog_helpers import PROVIDERS, REPO, catalog_text


def test_hints_read_seconds_from_json_bodies() -> None:
    def seconds(**body: object) -> str | None:
        return VideoCreateRequest.model_validate({"model": "clip", "prompt": "p", **body}).hints().seconds

    assert seconds(seconds=4) == "4" and seconds(seconds="8") == "8"
    assert seconds(generationConfig={"durationSeconds": 6}) == "6"
    assert seconds() is None


BAD_OPERATION = catalog_text("""
    version: 1
    models:
    - id: clip
      kind: video
      routes:
      - provider: film
        options: {color: red}
        operations: [text, teleport]
""")
BAD = catalog_text("""
    version: 1
    models:
    - id: clip
      kind: video
      routes:
      - provider: film
        options: {color: red}
    aliases:
    - id: clips
      kind: video
      targets:
        landscape: {none: clip}
      durations:
        4:
          landscape: {none: nowhere}
        6:
          portrait: {none: clip}
""")


def test_operations_and_durations_are_validated_with_lines() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BAD_OPERATION, "cat.yaml", PROVIDERS)
    assert caught.value.problems == [
        "cat.yaml:8: models[0].routes[0].operations[1]: Input should be 'text', 'images', 'extend' or 'edit'"]
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BAD, "cat.yaml", PROVIDERS)
    text = "\n".join(caught.value.problems)
    assert "aliases[0].durations[4].landscape.none: alias target 'nowhere' is not a model id" in text
    assert "aliases[0].durations[6]: default aspect 'landscape' has no row in durations[6]" in text


CATALOG = {
    "version": 1,
    "models": [
        {"id": "two-way", "kind": "video", "routes": [
            {"provider": "text-only", "options": {}, "operations": ["text"]},
            {"provider": "any-video", "options": {}},
        ]},
        {"id": "prompt-only", "kind": "video", "routes": [{"provider": "text-only", "options": {}, "operations": ["text"]}]},
    ],
}


async def test_a_route_that_cannot_do_the_operation_is_skipped(tmp_path: Path, start_gateway, sdk) -> None:  # noqa: ANN001
    path = tmp_path / "ops.yaml"
    path.write_text(yaml.safe_dump(CATALOG), encoding="utf-8")
    text_only, any_video = Script(default=video_plan()), Script(default=video_plan())
    gw = await start_gateway(make_settings(tmp_path, catalog={"path": str(path)}), {
        "text-only": lambda ctx: FakeProvider("text-only", Kind.VIDEO, script=text_only),
        "any-video": lambda ctx: FakeProvider("any-video", Kind.VIDEO, script=any_video),
    })
    await gw.pool.add("fake", {"token": "acct0"})
    client = sdk(gw)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png()).decode()}}
    with_image = [{"role": "user", "content": [{"type": "text", "text": "animate"}, image]}]
    await client.chat.completions.create(model="two-way", messages=[{"role": "user", "content": "a cat"}])
    assert len(text_only.calls) == 1 and not any_video.calls   # the first route, as before
    await client.chat.completions.create(model="two-way", messages=with_image)
    assert len(text_only.calls) == 1 and len(any_video.calls) == 1
    assert any_video.calls[0].job.operation == "images" and len(any_video.calls[0].job.images) == 1
    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(model="prompt-only", messages=with_image)
    assert refused.value.body["param"] == "model" and "generate from input images" in refused.value.body["message"]
    assert len(text_only.calls) == 1   # nothing was sent upstream
