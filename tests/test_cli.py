"""The command line as a user runs it, on what needs no provider: API keys, the event loop choice.

Real subprocesses with a tmp data dir; the account and serve commands over a provider family are tested with
the VideoFX family in plugins/videofx/tests/gateway/test_gateway_cli.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from flow2api.testing import run_cli as flow2api


async def test_keys_are_printed_once(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    code, out, _ = await flow2api("keys", "create", "--name", "ci", "--rpm", "5", "--expires", "30d", "--data-dir", data)
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert key.startswith("sk-f2a-") and len(key) > 40
    code, out, _ = await flow2api("keys", "list", "--data-dir", data)
    assert code == 0 and "ci" in out and key not in out and key[:11] in out
    code, _, err = await flow2api("keys", "create", "--name", "x", "--expires", "someday", "--data-dir", data)
    assert code == 2 and "--expires" in err


def test_event_loop_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")  # a dependency on Linux/macOS CPython; not on Windows

    from flow2api.cli import event_loop_factory

    assert event_loop_factory("asyncio") is None
    assert event_loop_factory("auto") is uvloop.new_event_loop is event_loop_factory("uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on a platform without uvloop: import fails
    assert event_loop_factory("auto") is None
    with pytest.raises(SystemExit, match="uvloop is not installed"):
        event_loop_factory("uvloop")
