"""``flow2api models check [PATH]``: exit 0 when clean, 1 with warnings only, 2 with errors, every problem printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.catalog.catalog_helpers import copy_models_yaml, echo_model, with_models


def check(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a clean environment (no FLOW2API_* variables, no config file in ``cwd``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW2API_")}
    return subprocess.run(
        [sys.executable, "-m", "flow2api", "models", "check", str(path)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )



def test_a_provider_that_is_not_installed_is_a_warning_exit_1(tmp_path: Path) -> None:
    path = copy_models_yaml(tmp_path)
    text = with_models(path.read_text(encoding="utf-8"), echo_model("echo-red"))
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  - provider: echo-image") + 1
    raw = yaml.safe_load(text)
    models, aliases = len(raw["models"]), len(raw["aliases"])   # echo-red is the last model
    result = check(path, tmp_path)
    assert result.returncode == 1, result.stderr
    assert (f"warning: {path}:{line}: models[{models - 1}].routes[0].provider: provider 'echo-image' is not installed; "
            "model 'echo-red' is unavailable through it\n") in result.stdout
    assert f"{models} models, {aliases} aliases" in result.stdout and "1 warning(s)" in result.stdout


