"""``flow2api models check`` on the shipped catalog, whose models the VideoFX providers serve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from flow2api.testing import copy_models_yaml


def check(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a clean environment (no FLOW2API_* variables, no config file in ``cwd``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW2API_")}
    return subprocess.run([sys.executable, "-m", "flow2api", "models", "check", str(path)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_shipped_catalog_is_clean(tmp_path: Path) -> None:
    path = copy_models_yaml(tmp_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    result = check(path, tmp_path)
    assert result.returncode == 0, result.stderr
    counts = f"{len(raw['models'])} models, {len(raw['aliases'])} aliases"
    assert re.search(rf"models\.yaml: {counts}, digest [0-9a-f]{{12}}\n$", result.stdout)
    assert "warning:" not in result.stdout


def test_errors_are_all_printed_with_lines_exit_2(tmp_path: Path) -> None:
    path = copy_models_yaml(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace("      image_model: NARWHAL\n", "      image_model: NARWAL\n", 1)
    text = text.replace("- id: gemini-3.0-pro-image-portrait\n", "- id: gemini-3.0-pro-image-landscape\n", 1)
    text = text.replace("{none: veo_3_1_t2v_fast_landscape}", "{none: veo_3_1_t2v_fast_landscap}", 1)
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    result = check(path, tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    narwal = lines.index("      image_model: NARWAL") + 1
    first = lines.index("- id: gemini-3.0-pro-image-landscape") + 1
    duplicate = lines.index("- id: gemini-3.0-pro-image-landscape", first) + 1
    target = next(i for i, line in enumerate(lines, 1) if "veo_3_1_t2v_fast_landscap}" in line)
    assert any(e.startswith(f"error: {path}:{narwal}: models[") and ".options.image_model: Input should be" in e for e in errors)
    assert f"error: {path}:{duplicate}: models[1].id: duplicate model id 'gemini-3.0-pro-image-landscape' (first defined on line {first})" in errors
    assert f"error: {path}:{target}: aliases[3].targets.landscape.none: alias target 'veo_3_1_t2v_fast_landscap' is not a model id" in errors
    # The lost id 'gemini-3.0-pro-image-portrait' is reported where aliases still point at it.
    assert any("alias target 'gemini-3.0-pro-image-portrait' is not a model id" in e for e in errors)
    assert result.stdout == ""

    path.write_text("models:\n  - id: [unclosed\n", encoding="utf-8")
    result = check(path, tmp_path)
    assert result.returncode == 2 and re.search(rf"error: {re.escape(str(path))}:\d+: \(file\): not valid YAML", result.stderr)
