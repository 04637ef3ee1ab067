"""Settings: TOML + FLOW2API_* environment, one readable line naming the key for every problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flow2api.discovery import build_providers
from flow2api.settings import Settings, SettingsError, SettingsHolder, load_settings
from flow2api.plugin import Kind
from flow2api.testing import REPO, FakeProvider

#: One provider of the fake family, which claims no settings section.
FAKE_FACTORIES = {"fake-image": lambda ctx: FakeProvider("fake-image", Kind.IMAGE)}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow2api.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_original_project_but_ship_no_well_known_key() -> None:
    settings = load_settings(environ={})
    assert settings.global_.api_key is None  # generated at first start (flow2api.clientkey), never 'han1234'
    assert settings.server.port == 8000 and settings.admin.error_ban_threshold == 3
    assert settings.catalog.path is None  # ./models.yaml, else the shipped catalog (catalog_path)


def test_a_bad_setting_names_where_it_was_set(tmp_path: Path) -> None:
    """Issue 19 item 9: the file, the environment variable, the command line or the admin site, not "defaults"."""
    path = write(tmp_path, "[server]\nport = 70000\n")
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(path))}: \[server\] port: "):
        load_settings(path, environ={})
    with pytest.raises(SettingsError, match=r"^environment FLOW2API_SERVER__PORT: \[server\] port: "):
        load_settings(environ={"FLOW2API_SERVER__PORT": "-1"})
    settings = load_settings(environ={})
    with pytest.raises(SettingsError, match=r"^command line: \[server\] port: "):
        settings.with_overrides(origin="command line", server={"port": 99999})
    with pytest.raises(SettingsError, match=r"^admin site: \[generation\] max_retries: "):
        SettingsHolder(settings).update(generation={"max_retries": 99})
    changed = settings.with_overrides(origin="command line", server={"port": 9001})
    assert changed.source_of("server", "port") == "command line" and changed.source_of("server", "host") == "defaults"


def test_file_and_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[global]\napi_key = "from-file"\n[server]\nport = 9000\n[flow]\ntimeout = 50\n')
    settings = load_settings(path, environ={"FLOW2API_SERVER__PORT": "9100", "FLOW2API_CAPTCHA__CAPTCHA_METHOD": "none"})
    assert settings.global_.api_key.get_secret_value() == "from-file"
    assert settings.server.port == 9100
    assert dict(settings.plugin_sections["flow"]) == {"timeout": 50}
    assert dict(settings.plugin_sections["captcha"]) == {"captcha_method": "none"}
    assert "environment" in settings.source


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 1234\n")
    assert load_settings(environ={"FLOW2API_CONFIG": str(path)}).server.port == 1234


@pytest.mark.parametrize(("text", "expected"), [
    ("[server]\nport = \"eighty\"\n", "[server] port: Input should be a valid integer"),
    ("[server]\nprot = 80\n", "[server] prot: unknown key"),
    ("[call_logic]\ncall_mode = \"fastest\"\n", "[call_logic] call_mode: Input should be"),
    ("api_key = 1\n", "top-level key 'api_key': expected a [section]"),
    ("[server\n", "not valid TOML"),
    ("[server]\nheader_timeout = 0\n", "[server] header_timeout: Input should be greater than 0"),
    ("[server]\nbody_timeout = -1\n", "[server] body_timeout: Input should be greater than 0"),
    ("[server]\nkeepalive_timeout = 7200\n", "[server] keepalive_timeout: Input should be less than or equal"),
    ("[server]\nmax_in_flight = -1\n", "[server] max_in_flight: Input should be greater than or equal to 0"),
])
def test_bad_file_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, text), environ={})
    assert expected in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, '[global]\napi_key = "sk-very-secret"\nbogus = 1\n'), environ={})
    assert "sk-very-secret" not in str(err.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_unclaimed_sections_are_refused(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[flwo]\ntimeout = 1\n"), environ={})
    with pytest.raises(SettingsError, match=r"unknown section\(s\) \[flwo\]"):
        build_providers(settings, FAKE_FACTORIES)


def test_holder_swaps_validated_settings_and_keeps_the_old_on_error() -> None:
    holder = SettingsHolder(Settings())
    before = holder.current
    holder.update(admin={"error_ban_threshold": 7})
    assert holder.current.admin.error_ban_threshold == 7 and before.admin.error_ban_threshold == 3
    with pytest.raises(SettingsError):
        holder.update(admin={"error_ban_threshold": -1})
    assert holder.current.admin.error_ban_threshold == 7


def test_the_example_file_documents_every_core_key_and_loads() -> None:
    import tomllib

    path = REPO / "config" / "flow2api.example.toml"
    example = tomllib.loads(path.read_text(encoding="utf-8"))
    settings = load_settings(path, environ={})
    for name, field in Settings.model_fields.items():
        if name in ("plugin_sections", "source", "origins"):
            continue
        section = field.alias or name
        missing = set(type(getattr(settings, name)).model_fields) - set(example.get(section, {}))
        # documented commented out: setting them replaces the generated key / the catalog lookup order
        missing -= {"secret_key", "api_key", "path"}
        assert not missing, f"[{section}] keys not in the example: {sorted(missing)}"
    # that its plugin sections are valid is checked with the VideoFX plugin (plugins/videofx/tests/gateway)
