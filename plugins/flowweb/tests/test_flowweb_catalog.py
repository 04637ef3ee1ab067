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
    routes = yaml.safe_load(ROUTES.read_text(encoding="utf-8"))["routes"]
    raw = yaml.safe_load((REPO / "models.yaml").read_text(encoding="utf-8"))
    by_id = {m["id"]: m for m in raw["models"]}
    assert routes and set(routes) <= set(by_id), set(routes) - set(by_id)
    for model_id, route in routes.items():
        assert by_id[model_id]["routes"][1:] == [route], model_id
        assert [r["provider"].split("-")[0] for r in by_id[model_id]["routes"]] == ["videofx", "flowweb"], model_id
    providers = build_providers(make_settings(tmp_path), FLOWWEB_FACTORIES)
    loaded = load_catalog(REPO / "models.yaml", providers)
    assert all("is not installed" in w and "'flowweb-" not in w for w in loaded.warnings), loaded.warnings
    for model_id in routes:
        flowweb = [r for r in loaded.entries[model_id].routes if r.provider.startswith("flowweb-")]
        assert len(flowweb) == 1 and flowweb[0].options is not None, model_id
