"""Hot reload: edits to models.yaml reach routing within a second, without failing or mixing a single request."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from PIL import Image

from flow2api.plugin import Call
from flow2api.testing import (
    API_KEY, FAKE_IMAGE_MODEL, FakeWorld, Gateway, image_plan, png, until, write_fake_catalog,
    write_in_place, write_replace,
)
from flow2api.testing.processes import free_port

AUTH = {"Authorization": f"Bearer {API_KEY}"}
PICK = "reload-pick"


def variant(base: dict[str, Any], number: int) -> str:
    """A valid catalog: the fake one plus a marker model and an alias whose target differs per variant."""
    catalog = copy.deepcopy(base)
    catalog["models"].append(
        {"id": f"marker-{number}", "kind": "image", "routes": [{"provider": "fake-image", "options": {}}]})
    target = FAKE_IMAGE_MODEL if number == 1 else "fake-image-portrait"
    catalog["aliases"].append(
        {"id": PICK, "kind": "image", "description": f"variant {number}", "targets": {"landscape": {"none": target}}})
    return yaml.safe_dump(catalog)


def invalid_variants(valid: str) -> list[str]:
    """Broken YAML, a schema error, an unknown alias target, and an empty file (a truncating write caught midway)."""
    schema, target = yaml.safe_load(valid), yaml.safe_load(valid)
    schema["models"][0]["colour"] = "red"
    target["aliases"][-1]["targets"]["landscape"]["none"] = "gemini-9-image"
    return [valid.replace("aliases:\n", "aliases: [\n", 1), yaml.safe_dump(schema), yaml.safe_dump(target), ""]


def sized_image(call: Call) -> list[Any]:
    """The fake provider's plan: a landscape PNG for a landscape model, a portrait one otherwise."""
    landscape = call.job.options.aspect_ratio == "landscape"
    return image_plan(png(64, 36) if landscape else png(36, 64))


async def test_reload_under_load_fails_and_mixes_nothing(tmp_path: Path, fake: FakeWorld) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    path = folder / "models.yaml"
    base = yaml.safe_load(write_fake_catalog(tmp_path / "fake-base.yaml").read_text(encoding="utf-8"))
    valid = {1: variant(base, 1), 2: variant(base, 2)}
    write_replace(path, valid[1])
    fake.image.plan_for = sized_image
    gw: Gateway = await fake.start(catalog={"path": str(path), "watch": True})
    id_sets = {n: frozenset(_ids_of(text)) for n, text in valid.items()}
    assert id_sets[1] != id_sets[2]
    seen: Counter[str] = Counter()
    failures: list[str] = []
    stop = asyncio.Event()

    async def list_models(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            async with session.get(f"{gw.url}/v1/models", headers=AUTH) as resp:
                if resp.status != 200:
                    failures.append(f"/v1/models {resp.status}")
                    continue
                data = (await resp.json())["data"]
            ids = frozenset(m["id"] for m in data)
            which = [n for n, s in id_sets.items() if s == ids]
            if not which or len({m["created"] for m in data}) != 1:
                failures.append(f"/v1/models mixed catalogs: {sorted(ids ^ id_sets[1])[:5]}")
            else:
                seen[f"models-v{which[0]}"] += 1
            await asyncio.sleep(0.005)   # concurrent, not saturating: the test is about correctness, bench/ about load

    async def chat(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            body = {"model": PICK, "messages": [{"role": "user", "content": "a kite"}]}
            async with session.post(f"{gw.url}/v1/chat/completions", json=body, headers=AUTH) as resp:
                payload = await resp.json()
            if resp.status != 200:
                failures.append(f"chat {resp.status}: {payload}")
                continue
            url = payload["choices"][0]["message"]["content"].split("(", 1)[1].rstrip(")")
            async with session.get(url) as media:
                width, height = Image.open(io.BytesIO(await media.read())).size
            seen["chat-landscape" if width > height else "chat-portrait"] += 1
            await asyncio.sleep(0.005)

    async def health(session: aiohttp.ClientSession) -> dict:
        async with session.get(f"{gw.url}/health") as resp:
            return (await resp.json())["catalog"]

    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(list_models(session)) for _ in range(2)]
        workers += [asyncio.create_task(chat(session)) for _ in range(2)]
        delays = []
        try:
            for cycle in range(8):
                number = 2 if cycle % 2 == 0 else 1
                write = write_replace if cycle % 4 < 2 else write_in_place
                digest = hashlib.sha256(valid[number].encode()).hexdigest()[:12]
                started = time.monotonic()
                write(path, valid[number])

                async def shows_marker(number: int = number) -> bool:
                    async with session.get(f"{gw.url}/v1/models/marker-{number}", headers=AUTH) as resp:
                        return resp.status == 200

                await until(shows_marker, timeout=5.0)
                delays.append(time.monotonic() - started)
                state = await health(session)
                assert state["digest"] == digest and state["last_error"] is None
                assert time.time() - state["loaded_at"] < 2

                broken = invalid_variants(valid[number])[cycle % 4]
                write(path, broken)

                async def has_error() -> list | None:
                    return (await health(session))["last_error"]

                problems = await until(has_error, timeout=5.0)
                assert all(p.startswith(f"{path}:") for p in problems), problems
                assert (await health(session))["digest"] == digest   # the previous catalog stays in force
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.gather(*workers)
    assert failures == []
    assert seen["models-v1"] and seen["models-v2"] and seen["chat-landscape"] and seen["chat-portrait"], seen
    # Issue 3: an edit reaches routing within 1 s (typically 0.2 s; the median absorbs a busy CI machine's hiccups).
    assert statistics.median(delays) < 1.0, delays


def _ids_of(text: str) -> list[str]:
    """What /v1/models lists for a catalog text: its model ids, then its alias ids (issue 19 item 7)."""
    raw = yaml.safe_load(text)
    models = [m["id"] for m in raw["models"]]
    return models + [a["id"] for a in raw.get("aliases", []) if a["id"] not in models]


async def test_sighup_reloads_a_running_server(tmp_path: Path) -> None:
    # The fake catalog: its providers are not installed in the server, so its models are listed as unavailable.
    path = write_fake_catalog(tmp_path / "models.yaml")
    base = yaml.safe_load(path.read_text(encoding="utf-8"))
    port = free_port()
    config = tmp_path / "flow2api.toml"
    config.write_text(
        f'[global]\napi_key = "{API_KEY}"\n[catalog]\npath = "{path}"\nwatch = false\n', encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW2API_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "flow2api", "serve", "--config", str(config), "--data-dir", str(tmp_path / "data"),
         "--no-demo", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"server exited: {process.stderr.read().decode()[-2000:]}")
                try:
                    async with session.get(f"{url}/ready") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            async def marker_listed() -> bool:
                async with session.get(f"{url}/v1/models", headers=AUTH) as resp:
                    return "marker-1" in {m["id"] for m in (await resp.json())["data"]}

            async def health() -> dict:
                async with session.get(f"{url}/health") as resp:
                    return (await resp.json())["catalog"]

            await until(ready, timeout=30, interval=0.1)
            before = await health()
            write_replace(path, variant(base, 1))
            await asyncio.sleep(0.3)
            assert not await marker_listed()   # watching is off: only the signal reloads
            process.send_signal(signal.SIGHUP)
            await until(marker_listed, timeout=5.0)
            after = await health()
            assert after["digest"] != before["digest"] and after["last_error"] is None
            write_replace(path, "models: [")
            process.send_signal(signal.SIGHUP)

            async def has_error() -> list | None:
                return (await health())["last_error"]

            [problem] = await until(has_error, timeout=5.0)
            assert problem.startswith(f"{path}:") and ": (file): not valid YAML" in problem
            assert await marker_listed() and process.poll() is None
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
