"""Settings with the VideoFX plugin: it validates its own sections, and the example file's sections are valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from videofx_gateway import REPO, VIDEOFX_FACTORIES

from flow2api.discovery import build_providers
from flow2api.settings import SettingsError, load_settings


def test_plugin_sections_are_validated_by_the_plugin(tmp_path: Path) -> None:
    path = tmp_path / "flow2api.toml"
    path.write_text("[flow]\ntimeout = -1\n", encoding="utf-8")
    settings = load_settings(path, environ={})
    with pytest.raises(SettingsError, match=r"\[flow\] timeout"):
        build_providers(settings, VIDEOFX_FACTORIES)


def test_the_example_file_plugin_sections_are_valid() -> None:
    # the core keys of the same file are checked in tests/test_settings.py
    settings = load_settings(REPO / "config" / "flow2api.example.toml", environ={})
    providers = build_providers(settings, VIDEOFX_FACTORIES)
    assert set(providers) == set(VIDEOFX_FACTORIES)
