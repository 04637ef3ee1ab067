"""The flowweb plugin stands alone: it imports no other family (what both share is flow2api-flowkit).

Nor do its tests import the core's ``tests`` package: their fixtures come from :mod:`flow2api.testing`,
so ``pytest plugins/flowweb/tests`` runs with only the core, flowkit and this plugin installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent
# spelt in two parts so that `git grep <the other package> plugins/flowweb` finds nothing at all
OTHER = "flow2api_" + "videofx"
FORBIDDEN = re.compile(rf"^\s*(?:from|import)\s+({OTHER}|tests)\b", re.MULTILINE)


def test_no_flowweb_module_or_test_imports_the_videofx_plugin_or_the_core_tests() -> None:
    sources = [*(PLUGIN / "flow2api_flowweb").rglob("*.py"), *(PLUGIN / "tests").rglob("*.py")]
    offenders = [f"{path.relative_to(PLUGIN)}: {match.group(1)}" for path in sources
                 for match in FORBIDDEN.finditer(path.read_text(encoding="utf-8"))]
    assert len(sources) > 40 and offenders == []


def test_importing_the_plugin_and_its_emulator_loads_no_other_family() -> None:
    code = ("import sys, flow2api_flowweb, flow2api_flowweb.family, flow2api_flowweb.emulator\n"
            f"assert not [n for n in sys.modules if n.startswith({OTHER!r})]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
