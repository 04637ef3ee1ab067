"""The admin site's files ship with the package: templates and static assets as package data, found through
importlib (the wheel install itself is tested in tests/test_wheel_install.py)."""

from __future__ import annotations

import configparser
import fnmatch
from importlib import resources

from flow2api.admin.pages import STATIC_DIR
from flow2api.admin.render import TEMPLATE_PACKAGE, create_environment
from flow2api.testing import REPO


def _globs(value: str) -> list[str]:
    return [g.strip() for g in value.replace(",", "\n").split() if g.strip()]


def test_setup_cfg_ships_every_template_and_asset() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "options.data_files" not in cfg  # no files outside the package: an install scheme can misplace them
    package, folder = TEMPLATE_PACKAGE
    templates = sorted(p.name for p in (resources.files(package) / folder).iterdir() if p.is_file())
    globs = _globs(cfg["options.package_data"][package])
    assert templates and all(any(fnmatch.fnmatch(f"{folder}/{name}", g) for g in globs) for name in templates)
    globs = _globs(cfg["options.package_data"]["flow2api.static"])
    assets = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file() and p.name != "__init__.py")
    assert assets and all(any(fnmatch.fnmatch(name, g) for g in globs) for name in assets)


def test_every_template_compiles() -> None:
    env = create_environment()
    for name in env.list_templates():
        env.get_template(name)
    assert "base.html" in env.list_templates()
