"""The admin site's files ship with the package: templates as data files, static assets as package data."""

from __future__ import annotations

import configparser
import fnmatch

from flow2api.admin.pages import STATIC_DIR
from flow2api.admin.render import SOURCE_TEMPLATES, create_environment
from flow2api.testing import REPO


def test_setup_cfg_ships_every_template_and_asset() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    (pattern,) = [v.strip() for v in cfg["options.data_files"]["share/flow2api/templates"].split() if v.strip()]
    templates = sorted(p.name for p in SOURCE_TEMPLATES.iterdir() if p.is_file())
    assert templates and all(fnmatch.fnmatch(f"templates/{name}", pattern) for name in templates)
    globs = [g.strip() for g in cfg["options.package_data"]["flow2api.static"].split(",")]
    assets = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file() and p.name != "__init__.py")
    assert assets and all(any(fnmatch.fnmatch(name, g) for g in globs) for name in assets)


def test_every_template_compiles() -> None:
    env = create_environment()
    for name in env.list_templates():
        env.get_template(name)
    assert "base.html" in env.list_templates()
