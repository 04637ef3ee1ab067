"""Resolver aliases (spec §4.4): the table in the file and the request's hints choose the concrete model."""

from __future__ import annotations

import base64

import pytest

from flow2api.catalog import ResolveHints, hints_from_image, image_dims, parse_catalog
from flow2api.api.schemas import ChatCompletionRequest, GenerateContentRequest
from flow2api.api.schemas.base import parse_as
from flow2api.errors import InvalidRequestError, ModelNotFoundError
from tests.catalog.catalog_helpers import PROVIDERS, SMALL, png_bytes

CATALOG = parse_catalog(SMALL, "cat.yaml", PROVIDERS)
H = ResolveHints


def resolve(model: str, hints: ResolveHints | None = None) -> str:
    return CATALOG.resolve(model, hints).id


@pytest.mark.parametrize(("hints", "expected"), [
    (None, "pic-landscape"),
    (H(), "pic-landscape"),
    (H(aspect_ratio="9:16"), "pic-portrait"),
    (H(aspect_ratio="1:1"), "pic-square"),
    (H(aspect_ratio="PORTRAIT"), "pic-portrait"),
    (H(aspect_ratio="4:3"), "pic-landscape"),             # no four-three row → default aspect
    (H(aspect_ratio="21:9"), "pic-landscape"),
    (H(aspect_ratio="9:16", size="2000x2000"), "pic-portrait"),   # aspect_ratio wins over size
    (H(size="1024x1792"), "pic-portrait"),
    (H(size="1100x1000"), "pic-square"),                    # nearest ratio
    (H(size="auto", image_dims=(90, 160)), "pic-portrait"), # unusable size → the image decides
    (H(image_dims=(1000, 1010)), "pic-square"),
    (H(image_dims=(1920, 1080), aspect_ratio=""), "pic-landscape"),
    (H(image_size="4K"), "pic-landscape-4k"),
    (H(image_size="1k"), "pic-landscape"),
    (H(image_size="2k"), "pic-landscape"),                  # size the row lacks is ignored
    (H(quality="high"), "pic-landscape-4k"),
    (H(quality="hd"), "pic-landscape-4k"),
    (H(quality="medium"), "pic-landscape"),                 # 2k: not offered here
    (H(quality="standard"), "pic-landscape"),
    (H(image_size="1k", quality="high"), "pic-landscape"),  # image_size wins over quality
    (H(aspect_ratio="9:16", image_size="4k"), "pic-portrait"),
])
def test_image_alias(hints: ResolveHints | None, expected: str) -> None:
    assert resolve("pic", hints) == expected


def test_video_alias_that_is_also_a_concrete_id() -> None:
    assert resolve("clip") == "clip"                       # no hints: the concrete id's behaviour
    assert resolve("clip", H(aspect_ratio="9:16")) == "clip-portrait"
    assert resolve("clip", H(size="720x1280")) == "clip-portrait"
    assert resolve("clip", H(image_dims=(300, 400))) == "clip-portrait"   # video: landscape/portrait only
    assert resolve("clip", H(image_dims=(400, 400))) == "clip"           # tie → default aspect
    assert resolve("clip", H(quality="high", aspect_ratio="1:1")) == "clip"
    assert resolve("clip-portrait", H(aspect_ratio="16:9")) == "clip-portrait"   # concrete ids ignore hints


def test_hints_an_alias_does_not_listen_to_are_ignored() -> None:
    text = SMALL.replace("- id: pic\n  kind: image\n", "- id: pic\n  kind: image\n  hints: [image_size]\n", 1)
    catalog = parse_catalog(text, "cat.yaml", PROVIDERS)
    assert catalog.resolve("pic", H(aspect_ratio="9:16", quality="high", image_dims=(9, 16))).id == "pic-landscape"
    assert catalog.resolve("pic", H(aspect_ratio="9:16", image_size="4k")).id == "pic-landscape-4k"
    assert not catalog.aliases["pic"].wants_image_dims(H())


def test_disabled_models_and_aliases_are_refused() -> None:
    text = SMALL.replace("- id: pic-portrait\n  kind: image\n", "- id: pic-portrait\n  kind: image\n  enabled: false\n", 1)
    text = text.replace("- id: clip\n  kind: video\n  also_concrete", "- id: clip\n  kind: video\n  enabled: false\n  also_concrete", 1)
    catalog = parse_catalog(text, "cat.yaml", PROVIDERS)
    with pytest.raises(ModelNotFoundError) as caught:
        catalog.resolve("pic-portrait")
    assert caught.value.status == 404 and caught.value.param == "model"
    with pytest.raises(ModelNotFoundError, match="resolves to 'pic-portrait'"):
        catalog.resolve("pic", H(aspect_ratio="9:16"))
    assert catalog.resolve("pic").id == "pic-landscape"
    # A disabled also-concrete alias leaves the plain model: hints no longer redirect it.
    assert catalog.resolve("clip", H(aspect_ratio="9:16")).id == "clip"
    assert [a.id for a in catalog.public_aliases()] == ["pic"]
    assert "pic-portrait" not in [e.id for e in catalog.public_entries()]
    with pytest.raises(ModelNotFoundError, match="'nope' does not exist"):
        catalog.resolve("nope")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_image_dims_read_the_header(fmt: str) -> None:
    data = png_bytes(321, 123, fmt=fmt)
    assert image_dims(data) == (321, 123)
    assert hints_from_image(data, H(quality="high")) == H(quality="high", image_dims=(321, 123))
    assert image_dims(b"not an image") is None
    assert hints_from_image(b"junk", H(size="1x1")) == H(size="1x1")


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def chat(body: dict) -> ChatCompletionRequest:
    return parse_as(ChatCompletionRequest, {"model": "pic", "messages": [{"role": "user", "content": "x"}], **body},
                    strict=True)


def test_hints_from_an_openai_chat_body() -> None:
    body = chat({
        "size": "1024x1792", "quality": "hd", "aspect_ratio": "1:1",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_uri(png_bytes(10, 10))}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "x"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "image_url", "image_url": {"url": data_uri(png_bytes(90, 160))}},
                {"type": "image_url", "image_url": {"url": data_uri(png_bytes(160, 90))}},
            ]},
        ],
    })
    assert body.hints() == H(aspect_ratio="1:1", size="1024x1792", quality="hd")
    # Only the last message counts (spec §5.2), and its first inline image.
    assert image_dims(body.image_header()) == (90, 160)


def test_generation_config_wins_over_top_level_fields() -> None:
    body = chat({
        "aspectRatio": "16:9", "imageSize": "1k",
        "generationConfig": {"imageConfig": {"aspectRatio": "9:16", "imageSize": "4K"}},
    })
    assert body.hints() == H(aspect_ratio="9:16", image_size="4K")
    extra = chat({"extra_body": {"generation_config": {"image_config": {"aspect_ratio": "3:4"}}}})
    assert extra.hints() == H(aspect_ratio="3:4")


@pytest.mark.parametrize(("body", "param"), [
    ({"size": 5}, "size"),
    ({"generationConfig": "junk"}, "generationConfig"),
    ({"extra_body": {"generationConfig": {"imageConfig": {"imageSize": 4}}}}, "extra_body.generationConfig.imageConfig.imageSize"),
])
def test_hint_fields_are_typed(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        chat(body)
    assert caught.value.param == param


def test_first_image_from_gemini_contents_and_the_deprecated_image_field() -> None:
    gemini = parse_as(GenerateContentRequest, {"contents": [{"role": "user", "parts": [
        {"text": "x"}, {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(png_bytes(40, 30, fmt="JPEG")).decode()}},
    ]}]}, strict=True)
    assert image_dims(gemini.image_header()) == (40, 30)
    assert image_dims(chat({"image": data_uri(png_bytes(30, 40))}).image_header()) == (30, 40)
    assert chat({}).image_header() is None
