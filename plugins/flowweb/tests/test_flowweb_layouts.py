"""Argument layouts of every RPC (spec §3, §5–§7), both versions of each spec §13 conflict, and reply readers."""

from __future__ import annotations

import base64
import re

import pytest

from flow2api.errors import UpstreamProtocolError
from flow2api_flowweb.envelope import CAPTCHA_PLACEHOLDER
from flow2api_flowweb.layouts import FULL_CROP, Layout, derived_id, upscaled_id
from flow2api_flowweb.records import (
    credits_and_tier,
    find_records,
    generated_images,
    project_id,
    submitted_records,
    uploaded_media_id,
    upscaled_image,
)

A = Layout()
B = Layout(image_aspect="swapped", resolution="int", trailer="always_2", crop="none")
UUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
CTX = [None, 22, None, None, None, "p1", None, None, None, None, [CAPTCHA_PLACEHOLDER, 1]]


def test_client_context_and_prompt_fragments() -> None:
    assert A.context("p1") == CTX
    assert A.context(None, captcha=False) == [None, 22, None, None, None, None, None, None, None, None]
    assert A.prompt("hi") == [None, None, [[["hi"]]]]
    meta = A.metadata()
    assert meta[:4] == [None, None, None, None] and UUID_UPPER.match(meta[4]) and UUID_UPPER.match(meta[5])


def test_create_project_credits_status_and_media() -> None:
    assert A.create_project("t") == ["projects/*", [None, ["t"]], [None, 22]]
    assert A.credits() == []
    assert A.check_status(["a", "b"]) == [None, None, [["a"], ["b"]]]
    assert A.get_media("a") == ["a"]


def test_upload_image() -> None:
    args = A.upload_image("p1", "QUJD", "image/png", "f.png")
    assert args[:10] == [CTX, "QUJD", "image/png", 1, None, None, None, None, "f.png", None]
    assert len(args) == 12


def test_generate_images_one_item_per_output_with_seeds_9973_apart() -> None:
    args = A.generate_images("p1", model="GEM_PIX_2", aspect_ratio="IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR",
                             prompt="cat", inputs=[("base", 2), ("ref", 1)], count=2, seed=100)
    assert args[0] is None and args[2] == 1 and args[3] == CTX and len(args[4]) == 1
    first, second = args[1]
    assert len(first) == 14
    assert first[2] == [["base", None, None, None, 2], ["ref", None, None, None, 1]]
    assert (first[3], second[3]) == (100, 100 + 9973)
    assert first[4] == 4 and first[5] == "GEM_PIX_2" and first[7] == CTX and first[8] == [[["cat"]]]
    assert A.generate_images("p1", model="NARWHAL", aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", prompt="x", inputs=[],
                             count=1, seed=1)[1][0][2] is None


@pytest.mark.parametrize(("aspect", "measured", "swapped"), [
    ("IMAGE_ASPECT_RATIO_SQUARE", 1, 1), ("IMAGE_ASPECT_RATIO_PORTRAIT", 2, 2), ("IMAGE_ASPECT_RATIO_LANDSCAPE", 3, 3),
    ("IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR", 4, 5), ("IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE", 5, 4),
])
def test_image_aspect_enum_measured_and_swapped(aspect: str, measured: int, swapped: int) -> None:
    def item(layout: Layout) -> int:
        return layout.generate_images("p", model="NARWHAL", aspect_ratio=aspect, prompt="x", inputs=[], count=1,
                                      seed=1)[1][0][4]
    assert (item(A), item(B)) == (measured, swapped)


def test_image_upscale() -> None:
    assert A.upscale_image("m1", "UPSAMPLE_IMAGE_RESOLUTION_4K") == [
        "m1", 2, [None, 22, None, None, None, None, None, None, None, None, [CAPTCHA_PLACEHOLDER, 1]]]


def test_text_to_video_720p_and_360p() -> None:
    args = A.text_to_video("p1", model="abra_t2v_8s", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="dog",
                           resolution="720p")
    item = args[0][0]
    assert item[:4] == [[None, None, [[["dog"]]]], "abra_t2v_8s", 2, None] and len(item) == 5
    assert args[1] == CTX and args[2][1] == 1
    item360 = A.text_to_video("p1", model="abra_t2v_8s_360p", aspect_ratio="VIDEO_ASPECT_RATIO_PORTRAIT", prompt="d",
                              resolution="360p")[0][0]
    assert item360[2] == 1 and item360[5:] == [None, None, [4]]
    assert B.text_to_video("p1", model="k", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="d",
                           resolution="720p")[0][0][7] == 2  # version B: bare int 720p = 2


def test_trailer_is_1_for_t2v_and_2_for_other_modes_unless_always_2() -> None:
    common = {"model": "k", "aspect_ratio": "VIDEO_ASPECT_RATIO_LANDSCAPE", "prompt": "x"}
    assert A.start_image_to_video("p", start="m", resolution="720p", **common)[2][1] == 2
    assert B.text_to_video("p", resolution="720p", **common)[2][1] == 2


def test_start_frame_first_last_and_references() -> None:
    common = {"model": "k", "aspect_ratio": "VIDEO_ASPECT_RATIO_PORTRAIT", "prompt": "x"}
    i2v = A.start_image_to_video("p", start="m1", resolution="360p", **common)[0][0]
    assert i2v[4] == [None, "m1", None, None, None, FULL_CROP] and i2v[6:] == [None, None, None, [4]]
    assert B.start_image_to_video("p", start="m1", resolution="720p", **common)[0][0][4] == [None, "m1"]
    fl = A.first_last_to_video("p", start="m1", end="m2", **common)[0][0]
    assert fl[4][1] == "m1" and fl[5][1] == "m2" and len(fl) == 7 and len(fl[6]) == 6
    r2v = A.references_to_video("p", references=["r1", "r2"], resolution="360p", **common)[0][0]
    assert r2v[1] == [[None, "r1"], [None, "r2"]] and r2v[2] == "k" and r2v[3] == 1 and r2v[11] == [4]


def test_extend_takes_the_last_second_at_24_fps() -> None:
    item = A.extend_video("p", model="ext", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="more", source="src",
                          source_seconds=8)[0][0]
    assert item[0] == [None, "src", 169, 192] and item[2:5] == ["ext", 2, None]
    assert A.extend_video("p", model="ext", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", prompt="m", source="s",
                          source_seconds=4)[0][0][0][2:] == [73, 96]


def test_video_upscale_row() -> None:
    args = A.upscale_video("p", source="m1", workflow_id="w1", aspect_ratio="VIDEO_ASPECT_RATIO_PORTRAIT",
                           target="VIDEO_RESOLUTION_4K", upsampler_key="veo_3_1_upsampler_4k", seed="s1")
    row = args[0][0]
    assert len(row) == 32 and row[0] == [None, "m1"] and row[2] == 1 and row[4] == [None, "w1", None, None, "s1"]
    assert row[6] == 3 and row[31] == "veo_3_1_upsampler_4k"
    assert [i for i, v in enumerate(row) if v is not None] == [0, 2, 4, 6, 31]
    assert args[2][1] == 1


def test_upscaled_output_id_by_suffix_or_seed() -> None:
    assert upscaled_id("m1", "VIDEO_RESOLUTION_1080P", "s", "suffix") == "m1_upsampled"
    assert upscaled_id("m1", "VIDEO_RESOLUTION_4K", "s", "suffix") == "m1_4k_upsampled"
    derived = derived_id("5F1C2B2E-0000-4000-8000-000000000000")
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", derived)
    assert upscaled_id("m1", "VIDEO_RESOLUTION_4K", "5F1C2B2E-0000-4000-8000-000000000000", "seed") == derived


RECORD = ["m1", "p1", "w1", "CAE", None,
          [None, 7, None, None, None, None, None, "prompt", [3], None, "https://x/poster", None, None, 1234],
          None, [[None] * 8 + ["https://x/video/m1"] + [None] * 3 + ["abra_t2v_8s"], [None, None, [8]]], "extra"]


def test_records_are_found_by_shape_whatever_the_nesting() -> None:
    records = find_records([None, 50, [[RECORD], [["m2", "p1", "w2", "CAE", None, [None] * 8 + [[2]]]]]])
    assert [(r.media_id, r.workflow_id, r.status) for r in records] == [("m1", "w1", 3), ("m2", "w2", 2)]
    done = records[0]
    assert done.video_url == "https://x/video/m1" and done.poster_url == "https://x/poster"
    assert done.size == 1234 and done.model_key == "abra_t2v_8s"
    failed = find_records([["m3", "p", "w", "CAE", None, [None] * 8 + [[4, [None, "Media not found."], ["Media not found."]]]]])
    assert failed[0].status == 4 and failed[0].message == "Media not found."
    assert submitted_records([None, 12, [[["m1"]]], [[RECORD]]], "YhhmEf")[0].media_id == "m1"
    with pytest.raises(UpstreamProtocolError, match=r"YhhmEf reply: payload\[3\]"):
        submitted_records([None, 12, []], "YhhmEf")


def test_generated_images_read_the_signed_url_or_fall_back_to_scanning() -> None:
    details = [None, 5, None, None, None, None, None, "cat", None, None, None, None, None,
               "https://flow-content.google/image/i1?Expires=1"]
    images = generated_images([[["i1", "p", "w1", "CAE", None, None, [details, None, [1376, 768]]]], []])
    assert images[0].url.endswith("/image/i1?Expires=1") and images[0].seed == 5 and images[0].workflow_id == "w1"
    moved = generated_images([[["i2", None, "w", ["https://flow-content.google/image/i2?x"]]]])
    assert moved[0].url == "https://flow-content.google/image/i2?x"
    with pytest.raises(UpstreamProtocolError, match=r"payload\[0\]\[0\]\[6\]\[0\]\[13\]"):
        generated_images([[["i3", None, "w"]]])
    with pytest.raises(UpstreamProtocolError, match=r"payload\[0\] \(media items\)"):
        generated_images([])


def test_upload_project_credits_and_upscale_replies() -> None:
    assert uploaded_media_id([["m1", "p1", "w1", "CAE"], None]) == "m1"
    with pytest.raises(UpstreamProtocolError, match="declined"):
        uploaded_media_id([[]])
    assert project_id([None, ["4a0f0c43-2f4e-4b8e-9d1d-6c1f61c2d2aa", [None, ["t"]]]]) == "4a0f0c43-2f4e-4b8e-9d1d-6c1f61c2d2aa"
    assert credits_and_tier([50, 2, None, 3]) == (50, "PAYGATE_TIER_TWO", 3)
    assert credits_and_tier([0, 3, None, 1])[1] == "PAYGATE_TIER_NOT_PAID"
    with pytest.raises(UpstreamProtocolError, match="credits"):
        credits_and_tier([])
    assert upscaled_image([[None], base64.b64encode(b"\xff\xd8\xffjpeg").decode()]) == b"\xff\xd8\xffjpeg"
    with pytest.raises(UpstreamProtocolError, match="not base64"):
        upscaled_image([[None], "***"])
