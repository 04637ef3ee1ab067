"""File and process helpers of :mod:`flow2api.testing`: a private copy of the shipped catalog, the two ways
files get written (atomic replace, in place), how often this process holds a file open, a polling wait, and the
``flow2api`` command run as a user runs it."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import flow2api

#: The source checkout holding the ``flow2api`` package (its ``models.yaml`` is the default test catalog).
REPO = Path(flow2api.__file__).resolve().parent.parent


def copy_models_yaml(tmp_path: Path, name: str = "models.yaml") -> Path:
    """A private copy of the repository's ``models.yaml`` in ``tmp_path/catalog/`` (watchers see only it)."""
    folder = tmp_path / "catalog"
    folder.mkdir(exist_ok=True)
    return Path(shutil.copy(REPO / "models.yaml", folder / name))


def write_replace(path: Path, text: str) -> None:
    """Write the way editors and deploy tools do: a temporary file in the same directory, then ``os.replace``."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def open_count(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path`` (Linux: ``/proc/self/fd``)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:  # closed since listed
            continue
    return count


def write_in_place(path: Path, text: str) -> None:
    """Truncate and rewrite ``path`` in place (the same inode, as ``echo >`` does)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


async def until(predicate: Callable[[], Awaitable[Any]], timeout: float, interval: float = 0.01) -> Any:
    """Poll the async ``predicate`` until it returns a truthy value; that value, or an AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60, cwd: Path | None = None,
                  clean: bool = False, stdin: str | None = None) -> tuple[int, str, str]:
    """Run ``python -m flow2api *args`` in ``cwd`` (default: the source checkout): exit code, stdout, stderr.

    ``stdin`` (text) is written to the command's standard input, which is otherwise empty.

    The environment is ours plus ``env``; ``clean`` first drops every ``FLOW2API_*`` variable (so only the
    files and arguments given count). Raises ``TimeoutError`` after ``timeout`` seconds.
    """
    base = {k: v for k, v in os.environ.items() if not (clean and k.startswith("FLOW2API_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow2api", *args, cwd=cwd or REPO, env={**base, **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate((stdin or "").encode()), timeout)
    return proc.returncode or 0, out.decode(), err.decode()
