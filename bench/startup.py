"""Benchmark: time from process start to ``GET /ready`` answering 200 (issue 8).

``flow2api serve --no-demo`` is spawned and ``/ready`` polled every 2 ms; the
clock starts just before the spawn. Baselines measured in the same run:

* ``python -c pass`` — the interpreter alone (exit time);
* ``import flow2api.app`` — the interpreter plus every import the server makes (exit time);
* a bare aiohttp app serving ``/ready`` — the least an aiohttp server can take.

flow2api is measured on three data directories:

* **fresh** — empty: the database and its migrations, the secrets key, the media cache directory are created;
* **one account** — after ``flow2api accounts add`` (the usual small install);
* **populated** — ``--accounts`` accounts (default 200) with encrypted secrets and a project each,
  ``--tasks`` finished task rows (default 20,000) and ``--media`` files in the media cache
  (default 2,000): what start-up reads (account pool, media index, unfinished video jobs)
  grows with these.

Each case runs ``--runs`` times (default 5); printed: median, min and max in ms and the ratio of
the median to the bare aiohttp app's. The catalog is the shipped ``models.yaml``.

Run: ``.venv/bin/python bench/startup.py [--runs 5] [--accounts 200] [--tasks 20000] [--media 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import REPO, emulator, free_port, gateway_config, load_average  # noqa: E402

BARE_APP = """
import sys
from aiohttp import web
app = web.Application()
app.router.add_get("/ready", lambda r: web.json_response({"ready": True}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def ready_after(args: list[str], port: int, timeout: float = 60.0) -> float:
    """Seconds from spawning ``args`` to a 200 from ``/ready`` on ``port``; the process is stopped after."""
    request = b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[:4]} exited with {proc.returncode} before /ready")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(request)
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("/ready did not answer in time")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def exit_after(args: list[str]) -> float:
    """Seconds from spawning ``args`` to its exit."""
    started = time.perf_counter()
    subprocess.run(args, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


async def populate(config: Path, data: Path, accounts: int, tasks: int, media: int) -> None:
    """Fill ``data`` with accounts (encrypted secrets, one project each), finished tasks and media files."""
    from sqlalchemy import Connection, insert

    from flow2api.settings import load_settings
    from flow2api.storage import Database, schema, SecretBox, load_or_create_key
    from flow2api.storage.accounts import AccountRepository
    from flow2api.storage.tasks import owner_of

    settings = load_settings(config)
    database = Database(data / "flow2api.db")
    await database.open()
    try:
        repo = AccountRepository(database, SecretBox(load_or_create_key(data, None)))
        for i in range(accounts):
            record = await repo.upsert(
                "videofx", f"user{i}@example.com", secrets={"st": secrets.token_urlsafe(400), "at": secrets.token_urlsafe(150)},
                state={"credits_checked": time.time()}, tier="PAYGATE_TIER_ONE", credits=1000,
            )
            await repo.add_project(record.id, f"{i:08d}-0000-4000-8000-000000000000", "flow2api")
        now = time.time()
        rows = [{"id": f"task-{i:06d}", "kind": "image", "model": "gemini-3.1-flash-image-landscape",
                 "prompt": f"prompt {i}", "status": "completed", "progress": 100, "api_key": "global",
                 "owner": owner_of(None), "surface": "chat", "request": '{"summary": {}}',
                 "result": '{"urls": [], "names": []}', "created_at": now, "updated_at": now, "completed_at": now}
                for i in range(tasks)]
        # One transaction for the bulk insert, in the database's own thread (``Database.run``): the aiosqlite-style
        # ``conn.execute("BEGIN")`` this used broke when storage moved to SQLAlchemy (the facade has no transactions).

        def bulk_insert(connection: Connection) -> None:
            with connection.begin():
                connection.execute(insert(schema.tasks), rows)

        await database.run(bulk_insert)
    finally:
        await database.close()
    directory = data / "media"
    directory.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(2048)
    for _ in range(media):
        (directory / f"{secrets.token_urlsafe(18)}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + payload)
    del settings


def summary(label: str, values: list[float], base: float | None) -> str:
    med = statistics.median(values)
    ratio = f"  {med / base:5.2f}x bare aiohttp" if base else ""
    return (f"{label:<36} median {med * 1000:7.0f} ms  min {min(values) * 1000:7.0f}  "
            f"max {max(values) * 1000:7.0f}{ratio}")


async def main(args: argparse.Namespace) -> None:
    python = sys.executable
    print(f"{args.runs} runs per case, {load_average()} at start")
    interpreter = [exit_after([python, "-c", "pass"]) for _ in range(args.runs)]
    imports = [exit_after([python, "-c", "import flow2api.app, flow2api_videofx"]) for _ in range(args.runs)]
    bare = []
    for _ in range(args.runs):
        port = free_port()
        bare.append(ready_after([python, "-c", BARE_APP, str(port)], port))
    base = statistics.median(bare)
    print(summary("python -c pass (exit)", interpreter, base))
    print(summary("import flow2api.app (exit)", imports, base))
    print(summary("bare aiohttp app -> /ready", bare, base))

    async with emulator() as upstream:
        from flow2api_videofx.emulator import DEMO_ST

        with tempfile.TemporaryDirectory(prefix="flow2api-bench-startup-") as tmp:
            config = Path(tmp) / "flow2api.toml"
            config.write_text(gateway_config(upstream, log_level="WARNING"), encoding="utf-8")

            def serve(data: Path) -> float:
                port = free_port()
                return ready_after([python, "-m", "flow2api", "serve", "--no-demo", "--config", str(config),
                                    "--data-dir", str(data), "--port", str(port)], port)

            fresh = [serve(Path(tmp) / f"fresh{i}") for i in range(args.runs)]
            print(summary("flow2api, fresh data dir", fresh, base))

            one = Path(tmp) / "one"
            add = await asyncio.create_subprocess_exec(
                python, "-m", "flow2api", "accounts", "add", "--st", DEMO_ST, "--config", str(config),
                "--data-dir", str(one), cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            if await add.wait() != 0:
                raise RuntimeError("flow2api accounts add failed")
            single = [serve(one) for _ in range(args.runs)]
            print(summary("flow2api, one account", single, base))

            big = Path(tmp) / "populated"
            started = time.perf_counter()
            await populate(config, big, args.accounts, args.tasks, args.media)
            print(f"  (populated {args.accounts} accounts, {args.tasks} tasks, {args.media} media files "
                  f"in {time.perf_counter() - started:.1f} s)")
            populated = [serve(big) for _ in range(args.runs)]
            print(summary("flow2api, populated", populated, base))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per case (default 5)")
    parser.add_argument("--accounts", type=int, default=200, help="accounts in the populated data dir (default 200)")
    parser.add_argument("--tasks", type=int, default=20_000, help="task rows in the populated data dir (default 20000)")
    parser.add_argument("--media", type=int, default=2_000, help="media files in the populated data dir (default 2000)")
    asyncio.run(main(parser.parse_args()))
