"""Input decoding (:mod:`flow2api.api.inputs`): images and source videos are checked by size and magic bytes,
and every refusal is a 413 or 400 naming the request field, in words."""

from __future__ import annotations

import base64

import pytest

from flow2api.api.inputs import decode_data_uri, decode_image, decode_video
from flow2api.errors import InvalidRequestError, PayloadTooLargeError

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 16


def test_an_image_and_a_video_are_read_by_their_magic_bytes() -> None:
    assert decode_image(PNG, param="image").mime_type == "image/png"
    assert decode_data_uri("data:image/png;base64," + base64.b64encode(PNG).decode(), param="image").data == PNG
    assert decode_video(MP4, param="video", max_bytes=1024).mime_type == "video/mp4"
    uri = "data:video/mp4;base64," + base64.b64encode(MP4).decode()
    assert decode_video(uri, param="video", max_bytes=1024).data == MP4


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: decode_image(PNG, param="p", max_bytes=10), PayloadTooLargeError, "An input image is larger than 0 KiB."),
    (lambda: decode_image(MP4, param="p"), InvalidRequestError, "An input image is not a PNG, JPEG, WebP, GIF or BMP image."),
    (lambda: decode_data_uri("https://x/a.png", param="p"), InvalidRequestError,
     "Image data URIs must look like data:image/png;base64,<data>."),
    (lambda: decode_video(MP4, param="p", max_bytes=10), PayloadTooLargeError, "The video is larger than 0 KiB."),
    (lambda: decode_video(PNG, param="p", max_bytes=1024), InvalidRequestError, "The video is not an MP4, MOV or WebM file."),
    (lambda: decode_video("video.mp4", param="p", max_bytes=1024), InvalidRequestError,
     'A video in JSON must be a data URI (data:video/mp4;base64,<data>) or {"id": "<video id>"}.'),
    (lambda: decode_video("data:video/mp4;base64,!!", param="p", max_bytes=1024), InvalidRequestError,
     "The video is not valid base64."),
])
def test_a_refused_input_says_why_and_names_its_field(call, error: type[Exception], message: str) -> None:  # noqa: ANN001
    with pytest.raises(error) as caught:
        call()
    assert caught.value.message == message and caught.value.param == "p"
