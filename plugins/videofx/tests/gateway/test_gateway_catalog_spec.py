"""The shipped ``models.yaml`` (VideoFX routes) against the spec's data file (``../shared/spec/flow-models.yaml``,
spec §4.3–4.4).

Every ``active_at_head`` id is a model with the spec's upstream params, and
every ``resolver_alias_at_head`` id resolves as the spec's §4.4 table says.
The expectations are derived here from the spec's fields, independently of
``scripts/catalog_from_spec.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from videofx_gateway import REPO, VIDEOFX_FACTORIES

from flow2api.catalog import Catalog, ResolveHints, load_catalog
from flow2api.discovery import build_providers
from flow2api.settings import Settings

SPEC_FILE = REPO / ".." / "shared" / "spec" / "flow-models.yaml"
RATIOS = {"landscape": "16:9", "portrait": "9:16", "square": "1:1", "four-three": "4:3", "three-four": "3:4"}
#: Aliases of ours beyond the spec's §4.4 table (tests/catalog/test_catalog_durations.py checks them).
FRIENDLY_ALIASES = {"omni-flash", "veo-3.1-lite", "veo-3.1-fast", "veo-3.1-quality"}
SUB_KINDS = {
    "t2v": "t2v", "i2v (1 img first-frame | 2 imgs first+last)": "i2v", "i2v first-frame only": "i2v_first",
    "i2v first+last (interpolation)": "i2v_first_last", "r2v": "r2v", "extend (needs extend://<mediaId>)": "extend",
    "omni (0 imgs t2v | 1-3 imgs r2v)": "omni",
}


@pytest.fixture(scope="module")
def spec() -> list[dict[str, Any]]:
    if not SPEC_FILE.is_file():
        pytest.skip(f"spec data file not found at {SPEC_FILE.resolve()} (the shared spec is not checked out next to the repo)")
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(REPO / "models.yaml", build_providers(Settings(), VIDEOFX_FACTORIES))


def expected_options(e: dict[str, Any]) -> dict[str, Any]:
    """The route options the spec entry implies (only the fields the spec states)."""
    common = {
        "aspect_ratio": e["aspect_ratio"], "upsample": e["upsample_target"], "min_images": e["min_images"],
        "max_images": e["max_images"], "required_tier": e["required_tier"],
    }
    if e["kind"] == "image":
        return {**common, "image_model": e["upstream_image_model_name"]}
    return {
        **common,
        "video_model_key": e["upstream_video_model_key"],
        "sub_kind": SUB_KINDS[e["sub_kind"].replace(" +upsample", "")],
        "single_image_key": e.get("upstream_video_model_key_single_image"),
        "tier_two_key": e.get("upstream_video_model_key_tier_two"),
        "tier_two_single_image_key": e.get("upstream_video_model_key_tier_two_single_image"),
        "with_images_key": e.get("upstream_video_model_key_with_images"),
        "upsampler_key": e["upsampler_video_model_key"],
        "duration_seconds": e["duration_seconds"], "ultra": e["ultra"], "relaxed": e["relaxed"],
    }


def legacy_ids(catalog: Catalog) -> dict[str, str]:
    """``{legacy id: its model}`` of the ``alias_of`` aliases."""
    return {a.id: a.alias_of for a in catalog.aliases.values() if a.alias_of is not None}


def same_as(spec: list[dict[str, Any]]) -> dict[str, str]:
    """``{id: the id it is an alias of}``: the spec's §4.3 "alias of" column (identical configuration), which the
    catalog serves as that one model (docs/catalog.md "Legacy ids")."""
    return {e["id"]: e["alias_of"] for e in spec if e["status"] == "active_at_head" and e.get("alias_of")}


def test_every_active_id_is_served_with_the_spec_params(spec: list[dict[str, Any]], catalog: Catalog) -> None:
    active = [e for e in spec if e["status"] == "active_at_head"]
    assert len(active) == 214
    folded = same_as(spec)   # same-settings ids folded into one model (docs/catalog.md "Legacy ids")
    assert len(folded) == 82
    mismatches = []
    for e in active:
        entry = catalog.resolve(e["id"])
        assert entry.id == folded.get(e["id"], e["id"]) and entry.kind.value == e["kind"] and entry.available
        provider = f"videofx-{e['kind']}"
        # The spec's (labs) route first; routes through the post-migration family may follow it.
        assert entry.routes[0].provider == provider
        assert all(r.provider == f"flowweb-{e['kind']}" for r in entry.routes[1:])
        options = entry.routes[0].options.model_dump()
        for name, value in expected_options(e).items():
            if options[name] != value:
                mismatches.append(f"{e['id']}: {name} is {options[name]!r}, spec says {value!r}")
    assert mismatches == []
    # spec §4.1: /v1/models order; the flow.google.com-only models (§10, §14 of the batchexecute spec) follow.
    public = [e.id for e in catalog.public_entries()]
    assert public[:len(active) - len(folded)] == [e["id"] for e in active if e["id"] not in folded]
    extras = [catalog.entries[i] for i in public[len(active) - len(folded):]]
    assert extras and all(r.provider == "flowweb-video" for e in extras for r in e.routes)


def test_ids_removed_before_head_are_not_served(spec: list[dict[str, Any]], catalog: Catalog) -> None:
    removed = {e["id"] for e in spec if e["status"] == "removed_before_head"}
    assert removed and not removed & (set(catalog.entries) | set(catalog.aliases))


def test_every_alias_resolves_like_the_spec_table(spec: list[dict[str, Any]], catalog: Catalog) -> None:
    aliases = {e["id"]: e for e in spec if e["status"] == "resolver_alias_at_head"}
    assert len(aliases) == 59 and set(catalog.aliases) - set(aliases) - set(legacy_ids(catalog)) == FRIENDLY_ALIASES
    folded = same_as(spec)
    for alias_id, e in aliases.items():
        alias = catalog.aliases[alias_id]
        assert alias.kind.value == e["kind"] and alias.default_aspect == e["default_aspect"]
        # an also-concrete id whose model is another id's settings is folded: the alias stays, over that id
        concrete = bool(e.get("also_concrete_model_id")) and alias_id not in folded
        assert alias.also_concrete == concrete == (alias_id in catalog.entries), alias_id
        if e["kind"] == "image":
            check_image_alias(catalog, e)
        else:
            check_video_alias(catalog, e, aliases, folded)


def check_image_alias(catalog: Catalog, e: dict[str, Any]) -> None:
    """``<alias>-<aspect>[-2k|-4k]``; unsupported ratios fall back to the default aspect (spec §4.4)."""
    alias_id = e["id"]
    assert catalog.resolve(alias_id).id == f"{alias_id}-{e['default_aspect']}"
    # The first input image's nearest ratio (spec §4.4), among the aspects this alias has.
    for dims, nearest in (((1024, 768), "four-three"), ((1000, 1000), "square"), ((600, 800), "three-four"),
                          ((1080, 1920), "portrait"), ((2000, 1000), "landscape")):
        if nearest not in e["supported_aspects"]:   # landscape/portrait-only aliases: by orientation, ties → default
            width, height = dims
            nearest = "landscape" if width > height else "portrait" if width < height else e["default_aspect"]
        assert catalog.resolve(alias_id, ResolveHints(image_dims=dims)).id == f"{alias_id}-{nearest}"
    for aspect, ratio in RATIOS.items():
        word = aspect if aspect in e["supported_aspects"] else e["default_aspect"]
        assert catalog.resolve(alias_id, ResolveHints(aspect_ratio=ratio)).id == f"{alias_id}-{word}"
        assert catalog.resolve(alias_id, ResolveHints(aspect_ratio=ratio, image_size="1K")).id == f"{alias_id}-{word}"
        for size in ("2k", "4k"):
            suffix = f"-{size}" if size in e["supported_sizes"] else ""
            assert catalog.resolve(alias_id, ResolveHints(aspect_ratio=ratio, image_size=size.upper())).id == f"{alias_id}-{word}{suffix}"
        for quality, size in (("medium", "2k"), ("high", "4k"), ("hd", "4k"), ("ultra", "4k"), ("standard", None)):
            suffix = f"-{size}" if size in e["supported_sizes"] else ""
            assert catalog.resolve(alias_id, ResolveHints(aspect_ratio=ratio, quality=quality)).id == f"{alias_id}-{word}{suffix}"


def check_video_alias(catalog: Catalog, e: dict[str, Any], aliases: dict[str, dict[str, Any]],
                      folded: dict[str, str]) -> None:
    """landscape/portrait from ``resolves_to``; ``imageSize`` 4k/1080p switches to the ``<alias>_<size>`` alias if
    any; a target the spec names as an alias of another id is that id."""
    alias_id = e["id"]
    targets = {aspect: folded.get(target, target) for aspect, target in e["resolves_to"].items()}
    assert catalog.resolve(alias_id).id == targets[e["default_aspect"]]
    if e.get("also_concrete_model_id"):
        # no hints: the concrete id's behaviour
        assert catalog.resolve(alias_id).id == folded.get(alias_id, alias_id)
    for aspect, ratio in (("landscape", "16:9"), ("portrait", "9:16")):
        assert catalog.resolve(alias_id, ResolveHints(aspect_ratio=ratio)).id == targets[aspect]
        for size in ("4k", "1080p"):
            sibling = aliases.get(f"{alias_id}_{size}")
            want = sibling["resolves_to"][aspect] if sibling else targets[aspect]
            want = folded.get(want, want)
            assert catalog.resolve(alias_id, ResolveHints(aspect_ratio=ratio, image_size=size)).id == want
        # quality is an Images API notion: it never upsamples a video.
        assert catalog.resolve(alias_id, ResolveHints(aspect_ratio=ratio, quality="high")).id == targets[aspect]
    assert catalog.resolve(alias_id, ResolveHints(image_dims=(720, 1280))).id == targets["portrait"]
    assert catalog.resolve(alias_id, ResolveHints(image_dims=(1024, 1024))).id == targets[e["default_aspect"]]
