"""The core package never imports a provider plugin (ARCHITECTURE: "Plugins are real plugins")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "flow2api"


def test_no_core_module_imports_a_plugin_package() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("flow2api_")]
    assert offenders == []


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
