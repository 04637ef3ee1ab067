"""``accounts add --st-file PATH`` and ``--st -`` (stdin): the session token stays out of argv (issue 18, item 16)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from flow2api.cli import main


def test_st_file_and_stdin_are_read(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    token = tmp_path / "st.txt"
    token.write_text("  \n", encoding="utf-8")
    seen: list[dict] = []

    async def fake_add(settings, family, credentials, **fields):  # noqa: ANN001, ANN202
        seen.append(credentials)
        return "added"

    monkeypatch.setattr("flow2api.cli.add_account", fake_add)
    token.write_text("st-from-file\n", encoding="utf-8")
    assert main(["accounts", "add", "--data-dir", str(tmp_path), "--st-file", str(token)]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("st-from-stdin\n"))
    assert main(["accounts", "add", "--data-dir", str(tmp_path), "--st", "-"]) == 0
    assert [c["st"] for c in seen] == ["st-from-file", "st-from-stdin"]
    assert main(["accounts", "add", "--data-dir", str(tmp_path), "--st-file", str(tmp_path / "missing")]) == 2
