"""``flow2api`` as a child process, for tests and drills that run the command as an operator does: a settings
file written from sections, a free loopback port, start (output to a log file), wait for ``/ready``, stop.

Part of :mod:`flow2api.testing` (see :func:`flow2api.testing.run_cli` for one command run to its end);
:func:`needs_providers` skips a test whose child needs provider plugins that are not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from flow2api.discovery import ENTRY_POINT_GROUP
from flow2api.testing.files import REPO


def needs_providers(*names: str) -> pytest.MarkDecorator:
    """A ``skipif`` mark for a test whose child ``flow2api`` needs provider plugins installed: every entry point
    ``names`` (``videofx-image`` …) of group ``flow2api.providers``, or any provider at all when none is named.

    Found by name in the installed distributions' metadata, never imported (the core's tests import no plugin),
    so a venv with only the core skips such a test and says which plugin it needs.
    """
    installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    missing = sorted(set(names) - installed) if names else ([] if installed else ["a provider plugin"])
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} installed (pip install -e "
                              "plugins/videofx …)")


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``sections`` (``{"flow": {"poll_interval": 0.05}}``) as a TOML settings file at ``path``; returns it.

    Values are strings, numbers and booleans (JSON's spelling of them is TOML's).
    """
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def spawn_cli(*args: str, log: Path, env: Mapping[str, str] | None = None) -> asyncio.subprocess.Process:
    """Start ``python -m flow2api *args`` in the source checkout, stdout and stderr appended to ``log``.

    The environment is ours plus ``env`` (and unbuffered output, so a killed process's log is complete).
    """
    with open(log, "ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flow2api", *args, cwd=REPO, stdout=sink, stderr=sink,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )


async def wait_ready(url: str, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    """Poll ``{url}/ready`` until it answers 200; ``AssertionError`` if ``proc`` exits first or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.returncode is None, f"the server exited with {proc.returncode}"
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not become ready")


async def stop(proc: asyncio.subprocess.Process, timeout: float = 20) -> int:
    """SIGTERM (a graceful shutdown), SIGKILL after ``timeout`` s; returns the exit code."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0
