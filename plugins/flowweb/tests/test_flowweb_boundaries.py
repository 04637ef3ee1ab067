"""The flowweb plugin stands alone: it imports no other family (what both share is flow2api-flowkit)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent


def test_no_flowweb_module_or_test_imports_the_videofx_plugin() -> None:
    offenders = []
    for path in [*(PLUGIN / "flow2api_flowweb").rglob("*.py"), *(PLUGIN / "tests").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(PLUGIN)}: {n}" for n in names if n.startswith(("flow2api_videofx", "tests"))]
    assert offenders == []


def test_importing_the_plugin_and_its_emulator_loads_no_other_family() -> None:
    code = ("import sys, flow2api_flowweb, flow2api_flowweb.family, flow2api_flowweb.emulator\n"
            "assert not [n for n in sys.modules if n.startswith('flow2api_videofx')]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
