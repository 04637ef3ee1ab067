"""The README's two commands stay true: CI runs the README's test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (REPO / "README.md").read_text(encoding="utf-8"))


def test_readme_starts_with_install_and_test_commands() -> None:
    install, test = readme_commands()[:2]
    assert "pip install" in install and install.rstrip().endswith("flow2api serve")
    assert test.rstrip().endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    test = readme_commands()[1]
    assert test in (REPO / ".ci" / "run").read_text(encoding="utf-8")
