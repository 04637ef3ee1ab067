"""The flowweb routes proposed for the shared models.yaml (plugins/flowweb/models-routes.yaml) validate when merged."""

from __future__ import annotations

from pathlib import Path

import yaml
from flowweb_helpers import ALL_FACTORIES

from flow2api.catalog import load_catalog
from flow2api.discovery import build_providers
from tests.conftest import REPO, make_settings

ROUTES = REPO / "plugins" / "flowweb" / "models-routes.yaml"


def test_every_proposed_route_names_a_model_and_validates_in_the_merged_catalog(tmp_path: Path) -> None:
    catalog = yaml.safe_load((REPO / "models.yaml").read_text(encoding="utf-8"))
    routes = yaml.safe_load(ROUTES.read_text(encoding="utf-8"))["routes"]
    by_id = {m["id"]: m for m in catalog["models"]}
    assert routes and set(routes) <= set(by_id), set(routes) - set(by_id)
    for model_id, route in routes.items():
        by_id[model_id]["routes"].append(route)
    merged = tmp_path / "models.yaml"
    merged.write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")
    providers = build_providers(make_settings(tmp_path), ALL_FACTORIES)
    loaded = load_catalog(merged, providers)
    for model_id in routes:
        entry = loaded.entries[model_id]
        assert [r.provider.split("-")[0] for r in entry.routes] == ["videofx", "flowweb"], model_id
        assert all(r.options is not None for r in entry.routes)
