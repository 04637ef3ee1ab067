"""The core package never imports a provider plugin (ARCHITECTURE: "Plugins are real plugins"), the core's tests
need none installed, and each family's tests need only the core, flow2api-flowkit and that family."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "flow2api"
#: The test plugin the catalog tests load through its entry point (tests/plugins/echo_provider).
ECHO = ROOT / "tests" / "plugins"


def plugin_imports(folder: Path, allowed: tuple[str, ...] = ()) -> list[str]:
    """``"file: module"`` for every import of a ``flow2api_*`` package below ``folder`` not in ``allowed``."""
    offenders = []
    for path in folder.rglob("*.py"):
        if path.is_relative_to(ECHO):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.startswith("flow2api_") and n.split(".")[0] not in allowed]
    return offenders


def test_no_core_module_imports_a_plugin_package() -> None:
    assert plugin_imports(CORE) == []


def test_the_core_tests_import_no_plugin_package() -> None:
    assert plugin_imports(ROOT / "tests") == []


def test_each_family_is_tested_without_the_other() -> None:
    for family in ("videofx", "flowweb"):
        own = ("flow2api_flowkit", f"flow2api_{family}")
        assert plugin_imports(ROOT / "plugins" / family / "tests", own) == [], family


def test_importing_every_core_module_loads_no_plugin() -> None:
    code = (
        "import importlib, pkgutil, sys, flow2api\n"
        "for m in pkgutil.walk_packages(flow2api.__path__, 'flow2api.'):\n"
        "    if m.name != 'flow2api.__main__': importlib.import_module(m.name)\n"
        "loaded = sorted(n for n in sys.modules if n.startswith('flow2api_'))\n"
        "assert not loaded, loaded\n"
        "print(len([n for n in sys.modules if n.startswith('flow2api.')]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 20
