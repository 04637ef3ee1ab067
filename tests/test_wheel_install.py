"""Issue 19: a non-editable install works. The wheels of flow2api and its plugins are built from a copy of the
sources, installed into a fresh venv or under a ``--prefix``, and ``flow2api serve`` is started from an empty
directory; the admin login page must render (its templates and static files come from the installed package,
not the checkout). Templates installed as data files under ``share/`` were not found under a prefix.

No network: pip builds with its isolated build environment from the configured local index, and the venv
reaches the already installed third-party dependencies through one ``.pth`` line (the test venv's
site-packages) instead of downloading them. That line is processed after the venv's own site-packages, so
``import flow2api`` is the installed wheel's; the editable installs' finders in the test venv are not run
(``.pth`` files are only run in site directories).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import aiohttp
import pytest

from flow2api.testing import REPO, until
from flow2api.testing.processes import free_port

pytestmark = pytest.mark.slow  # four wheel builds and a venv: ~20-40 s on a shared machine

DISTRIBUTIONS = (".", "plugins/flowkit", "plugins/videofx", "plugins/flowweb")
# Nothing a build needs is here, and copying it could pick up a stale build/ or another checkout's egg-info.
SKIP = shutil.ignore_patterns(".venv", ".git", "build", "dist", "data", "*.egg-info", "__pycache__", "tests", "plugins",
                              "bench", "scripts", "docs", "config")


def _clean_env(**extra: str) -> dict[str, str]:
    """Our environment without ``FLOW2API_*`` settings and ``PYTHON*`` paths (a ``PYTHONPATH`` to a checkout
    would make pip think flow2api is installed already, and the server import the checkout)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLOW2API_", "PYTHON"))} | extra


def _build_wheels(source: Path, out: Path) -> list[Path]:
    for dist in DISTRIBUTIONS:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source / dist), "-w", str(out)],
                       check=True, capture_output=True, timeout=300, env=_clean_env())
    return sorted(out.glob("*.whl"))


def _copy_sources(target: Path) -> Path:
    shutil.copytree(REPO, target, ignore=SKIP)
    for dist in DISTRIBUTIONS[1:]:
        shutil.copytree(REPO / dist, target / dist, ignore=SKIP)
    return target


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The four wheels, built once for the module from a copy of the sources."""
    tmp = tmp_path_factory.mktemp("wheels")
    built = _build_wheels(_copy_sources(tmp / "src"), tmp / "out")
    assert len(built) == len(DISTRIBUTIONS)
    return built


def _install(wheels: list[Path], tmp_path: Path, mode: str) -> tuple[Path, dict[str, str]]:
    """Install ``wheels`` into a fresh venv (``venv``) or under a ``--prefix`` beside it (``prefix``, as a service
    unit or an /opt install does): the ``flow2api`` script and the extra environment to run it with."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    deps = sysconfig.get_path("purelib")  # the test venv's third-party packages, so nothing is downloaded
    target = ["--prefix", str(tmp_path / "opt")] if mode == "prefix" else []
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", *target, *map(str, wheels)],
                   check=True, capture_output=True, timeout=300, env=_clean_env())
    if mode == "prefix":
        site = tmp_path / "opt" / Path(deps).relative_to(sys.prefix)
        return tmp_path / "opt" / "bin" / "flow2api", {"PYTHONPATH": f"{site}{os.pathsep}{deps}"}
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "flow2api-test-deps.pth").write_text(deps + "\n")
    return env_dir / "bin" / "flow2api", {}


@pytest.mark.parametrize("mode", ["venv", "prefix"])
async def test_the_installed_wheel_serves_the_admin_login_page(wheels: list[Path], tmp_path: Path, mode: str) -> None:
    script, extra = await asyncio.to_thread(_install, wheels, tmp_path, mode)
    env = _clean_env(**extra)
    python = script.with_name("python") if mode == "venv" else tmp_path / "venv" / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import flow2api; print(flow2api.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    where = probe.stdout
    assert probe.returncode == 0, probe.stderr
    assert str(tmp_path) in where and "/src/" not in where, where  # the installed copy, not a checkout

    empty = tmp_path / "empty"
    empty.mkdir()
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            str(script), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
            cwd=empty, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async def ready() -> bool:
                assert proc.returncode is None, log.read_text()
                try:
                    async with http.get(f"{base}/ready") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await until(ready, timeout=60, interval=0.1)
            async with http.get(f"{base}/admin/") as resp:  # → 303 to the login page
                page = await resp.text()
                assert resp.status == 200 and resp.url.path == "/login", (resp.status, resp.url)
            assert "<form" in page and 'name="password"' in page
            css = next(part.split('"')[0] for part in page.split('href="')[1:] if part.startswith("/admin/static/"))
            async with http.get(f"{base}{css}") as resp:
                assert resp.status == 200 and resp.content_type == "text/css"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
