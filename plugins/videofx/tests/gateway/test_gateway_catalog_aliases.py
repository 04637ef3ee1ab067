"""The shipped ``models.yaml``: the friendly aliases (``omni-flash``, ``veo-3.1-*``) pick duration, aspect ratio and
resolution from the hints, and the flow.google.com-only edit models take only the ``edit`` operation (issue 21 item 1).
"""

from __future__ import annotations

import pytest
from videofx_gateway import REPO, VIDEOFX_FACTORIES

from flow2api.catalog import Catalog, ResolveHints, load_catalog
from flow2api.discovery import build_providers
from flow2api.errors import InvalidRequestError
from flow2api.settings import Settings


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(REPO / "models.yaml", build_providers(Settings(), VIDEOFX_FACTORIES))


@pytest.mark.parametrize(("hints", "model"), [
    (ResolveHints(), "omni"),
    (ResolveHints(seconds="4", size="720x1280"), "omni_portrait_4s"),
    (ResolveHints(seconds="4", size="360x640"), "omni_portrait_4s_360p"),
    (ResolveHints(seconds="10", size="640x360"), "omni_10s_360p"),
    (ResolveHints(seconds="6", aspect_ratio="16:9", image_size="360p"), "omni_6s_360p"),
    (ResolveHints(size="1280x720"), "omni"),
])
def test_omni_flash_picks_duration_aspect_and_resolution(shipped: Catalog, hints: ResolveHints, model: str) -> None:
    assert shipped.resolve("omni-flash", hints).id == model


def test_veo_aliases_pick_duration_and_upscale(shipped: Catalog) -> None:
    assert shipped.resolve("veo-3.1-lite", ResolveHints(seconds="4", size="720x1280")).id == "veo_3_1_t2v_lite_4s_portrait"
    assert shipped.resolve("veo-3.1-fast", ResolveHints(seconds="6")).id == "veo_3_1_t2v_fast_6s"
    assert shipped.resolve("veo-3.1-fast", ResolveHints(image_size="4k")).id == "veo_3_1_t2v_fast_4k"
    assert shipped.resolve("veo-3.1-quality", ResolveHints(seconds="4", image_size="1080p", aspect_ratio="9:16")).id \
        == "veo_3_1_t2v_portrait_4s_1080p"
    for alias, seconds in (("omni-flash", "12"), ("veo-3.1-lite", "10")):
        with pytest.raises(InvalidRequestError) as refused:
            shipped.resolve(alias, ResolveHints(seconds=seconds))
        assert refused.value.param == "seconds" and seconds in refused.value.message


def test_edit_is_an_operation_only_edit_routes_declare(shipped: Catalog) -> None:
    edit = shipped.entries["flow_edit_portrait_360p"]
    assert edit.operations == {"edit"}
    with pytest.raises(InvalidRequestError) as refused:
        shipped.entries["omni"].for_operation("edit")
    assert "edit a video" in refused.value.message and "'edit'" in refused.value.message
    with pytest.raises(InvalidRequestError, match="generate from a prompt alone"):
        edit.for_operation("text")
