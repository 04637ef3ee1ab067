"""The flowweb routes proposed for the shared models.yaml (plugins/flowweb/models-routes.yaml) validate when merged.

Only the flowweb providers are built: the file's other routes (VideoFX's) load as "provider not installed"
warnings, as they would on a gateway without that plugin, and every flowweb route must validate its options.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from flowweb_helpers import FLOWWEB_FACTORIES

from flow2api.catalog import load_catalog
from flow2api.discovery import build_providers
from flow2api.testing import REPO, make_settings

ROUTES = REPO / "plugins" / "flowweb" / "models-routes.yaml"


def test_models_yaml_carries_every_flowweb_route_and_validates(tmp_path: Path) -> None:
    """models.yaml is generated with these routes (scripts/catalog_from_spec.py … models-routes.yaml)."""
    proposed = yaml.safe_load(ROUTES.read_text(encoding="utf-8"))
    routes, own = proposed["routes"], proposed["models"]
    raw = yaml.safe_load((REPO / "models.yaml").read_text(encoding="utf-8"))
    by_id = {m["id"]: m for m in raw["models"]}
    # an id folded into another with the very same settings (docs/catalog.md "Legacy ids") is served by that model
    legacy = {a["id"]: a["alias_of"] for a in raw["aliases"] if "alias_of" in a}
    routes = {legacy.get(model_id, model_id): route for model_id, route in routes.items()}
    assert routes and set(routes) <= set(by_id), set(routes) - set(by_id)
    for model_id, route in routes.items():
        assert by_id[model_id]["routes"][1:] == [route], model_id
        assert [r["provider"].split("-")[0] for r in by_id[model_id]["routes"]] == ["videofx", "flowweb"], model_id
    # the flow.google.com-only models close the models list, as the file gives them
    assert own and raw["models"][-len(own):] == own
    routes = {**routes, **{m["id"]: m["routes"][0] for m in own}}
    providers = build_providers(make_settings(tmp_path), FLOWWEB_FACTORIES)
    loaded = load_catalog(REPO / "models.yaml", providers)
    assert all("is not installed" in w and "'flowweb-" not in w for w in loaded.warnings), loaded.warnings
    for model_id in routes:
        flowweb = [r for r in loaded.entries[model_id].routes if r.provider.startswith("flowweb-")]
        assert len(flowweb) == 1 and flowweb[0].options is not None, model_id


def test_new_flowweb_models_declare_what_they_do(tmp_path: Path) -> None:
    shipped = load_catalog(REPO / "models.yaml", build_providers(make_settings(tmp_path), FLOWWEB_FACTORIES))
    portrait_360 = shipped.entries["omni_portrait_4s_360p"].routes[0]
    assert portrait_360.provider == "flowweb-video" and portrait_360.operations == {"text", "images"}
    options = portrait_360.options.model_dump()
    assert (options["video_model_key"], options["with_images_key"], options["resolution"]) == \
        ("abra_t2v_4s_360p", "abra_r2v_4s_360p", "360p")
    i2v = shipped.entries["omni_i2v_10s"].routes[0].options
    assert (i2v.video_model_key, i2v.first_last_key, i2v.duration_seconds) == \
        ("abra_i2v_10s", "omni_flash_i2v_10s_first_last", 10)
    edit = shipped.entries["flow_edit_portrait_360p"].routes[0]
    assert edit.operations == {"edit"} and edit.options.video_model_key == "abra_edit_360p"
    assert edit.options.sub_kind == "edit" and edit.options.resolution == "360p"
