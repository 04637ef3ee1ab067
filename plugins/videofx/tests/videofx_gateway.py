"""Helpers of the gateway tests over the Flow emulator (plugins/videofx/tests/gateway): settings, providers.

The whole gateway (pipeline, pool, admin, storage) runs with the real VideoFX providers against the
emulator served on loopback. Everything generic comes from :mod:`flow2api.testing` (re-exported here
so the tests import one module); fixtures are in ``gateway/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

from videofx_helpers import VIDEOFX_FACTORIES, Upstream

from flow2api.catalog import Catalog, load_catalog
from flow2api.discovery import build_providers
from flow2api.settings import Settings
from flow2api.testing import API_KEY, REPO, Gateway
from flow2api.testing import make_settings as make_core_settings

__all__ = ["API_KEY", "IMAGE_MODEL", "REPO", "VIDEOFX_FACTORIES", "Gateway", "Upstream", "make_settings", "shipped_catalog"]

#: The cheapest image model of the shipped catalog (Nano Banana 2, landscape).
IMAGE_MODEL = "gemini-3.1-flash-image-landscape"


def make_settings(tmp_path: Path, upstream: Upstream | None = None, **sections: dict[str, object]) -> Settings:
    """:func:`flow2api.testing.make_settings`, plus the ``[flow]``/``[captcha]`` sections of ``upstream`` if given."""
    plugin = upstream.sections() if upstream is not None else {}
    for name, values in sections.items():
        plugin[name] = {**plugin.get(name, {}), **values}
    return make_core_settings(tmp_path, **plugin)


def shipped_catalog() -> Catalog:
    """The shipped ``models.yaml`` loaded for the VideoFX providers: what a gateway of :func:`make_settings` lists."""
    return load_catalog(REPO / "models.yaml", build_providers(Settings(), VIDEOFX_FACTORIES))
