"""Drill: 10,000 malformed requests across every public endpoint (catalogue: ``tests/reliability/malformed.py``).

Against the real gateway and emulator (one account, so requests that get as
far as leasing one can), 16 clients send the cases. Required:

* no answer is a 5xx, and none is a 2xx/3xx (every case is malformed);
* every ``/v1`` answer is exactly ``{"error": {"message", "type", "param",
  "code"}}``, every ``/v1beta`` answer ``{"error": {"code", "message",
  "status"}}`` (``/media`` answers are plain text and only need to be 4xx);
* afterwards ``/health`` says ``ok`` and a valid generation still works;
* no stored data changed: every table but ``request_logs`` (which records
  these requests by design) and ``instances`` (rewritten by each heartbeat),
  the media cache (input images of queued jobs included) are as before, and
  upstream never generated anything.

The server accepts 2 MiB bodies and 64 KiB input images here, so "over the
limit" cases stay cheap. ``FLOW2API_DRILL_FULL=1`` sends 50,000 cases.

:data:`KNOWN_GAPS` lists the 5xx answers this drill found in code owned
elsewhere, each with its cause and fix (docs/reliability.md). They are counted
and reported, not failed; a gap that no longer occurs fails the drill, so its
entry is removed with the fix (like a strict xfail, per case).
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from flow2api.storage import DATABASE
from videofx_gateway import API_KEY, Upstream, make_settings
from videofx_drills import FULL, IMAGE_MODEL
from videofx_malformed import IMAGE_LIMIT, Case, cases

pytestmark = pytest.mark.reliability

COUNT = 50_000 if FULL else 10_000
CONCURRENCY = 16
TIME_LIMIT = 600.0 if FULL else 240.0
GENERATING = ("batchGenerateImages", "batchAsyncGenerateVideo*", "uploadImage", "uploadUserImage", "upsampleImage")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def lone_surrogate(case: Case) -> bool:
    """The JSON body parses, and one of its strings cannot be encoded as UTF-8 (an unpaired surrogate)."""
    try:
        strings = _strings(json.loads(case.body or b""))
    except (ValueError, RecursionError):
        return False
    for text in strings:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def deeply_nested(case: Case) -> bool:
    return case.body is not None and (case.body.startswith(b"[" * 1000) or case.body.startswith(b'{"a": ' * 1000))


def form_body(case: Case) -> bool:
    ctype = case.headers.get("Content-Type", "")
    return ctype.startswith(("multipart/", "application/x-www-form-urlencoded")) and case.path in (
        "/v1/images/edits", "/v1/videos")


def gemini_parts_not_a_list(case: Case) -> bool:
    try:
        contents = json.loads(case.body or b"").get("contents")
        last = contents[-1] if isinstance(contents, list) and contents else contents
        parts = last.get("parts") if isinstance(last, dict) else None
    except (ValueError, AttributeError, RecursionError):
        return False
    return case.path.startswith("/v1beta/models/gemini-3.1-flash-image:") and parts is not None and not isinstance(parts, list)


@dataclass(frozen=True)
class Gap:
    """A known 5xx: which cases (``matches``), where it comes from and what fixes it."""

    name: str
    matches: Callable[[Case], bool]
    cause: str


KNOWN_GAPS: tuple[Gap, ...] = ()  # the four gaps this drill found are fixed (docs/reliability.md)


_CHANGING = {"request_logs", "instances"}  # written by design while the drill runs


async def snapshot(gw: Any, data_dir: Path) -> dict[str, Any]:
    """Every table but ``request_logs`` and ``instances`` (heartbeats), and the files under the media store."""
    conn = gw.app[DATABASE].conn
    async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") as cur:
        tables = [row[0] for row in await cur.fetchall() if row[0] not in _CHANGING]
    state: dict[str, Any] = {}
    for table in tables:
        async with conn.execute(f"SELECT * FROM {table} ORDER BY rowid") as cur:  # noqa: S608 - names from sqlite_master
            state[table] = [tuple(row) for row in await cur.fetchall()]
    for folder in ("media",):  # input images of queued jobs live in it, under inputs/
        root = data_dir / folder
        # Files only: an empty per-job directory left by a failed create is reported with the surrogate gap.
        state[folder] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return state


def shape_problem(case: Case, status: int, body: bytes) -> str | None:
    """Why an answer is not acceptable for a malformed request, or ``None``."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return f"accepted with {status}"
    if case.surface == "plain" or case.method == "HEAD":
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict) or set(data) != {"error"} or not isinstance(data["error"], dict):
        return f"not an error object: {body[:120]!r}"
    error = data["error"]
    if case.surface == "gemini":
        # ``details`` (google.rpc.BadRequest naming the field) is the Gemini API's optional part of the shape.
        ok = (set(error) - {"details"} == {"code", "message", "status"} and error["code"] == status
              and isinstance(error["message"], str) and isinstance(error["status"], str)
              and isinstance(error.get("details", []), list))
    else:
        ok = (set(error) == {"message", "type", "param", "code"} and isinstance(error["message"], str)
              and isinstance(error["type"], str) and isinstance(error["param"], (str, type(None)))
              and isinstance(error["code"], (str, type(None))))
    return None if ok else f"wrong {case.surface} error shape: {error!r:.200}"


async def test_malformed_requests_are_refused_cleanly(tmp_path: Path, drill_upstream: Upstream, start_gateway) -> None:
    emulator = drill_upstream.emulator
    gw = await start_gateway(make_settings(
        tmp_path, drill_upstream, server={"max_body_bytes": 2 * 1024 * 1024},
        generation={"max_input_image_bytes": IMAGE_LIMIT}, logging={"level": "ERROR"},
    ))
    account = emulator.add_account("alice@example.com", tier="PAYGATE_TIER_TWO", credits=1_000_000)
    await gw.pool.add("videofx", {"st": account.st})
    data_dir = tmp_path / "data"
    before = await snapshot(gw, data_dir)
    upstream_before = len(emulator.requests)

    problems: collections.Counter[tuple[str, str, str]] = collections.Counter()
    examples: dict[tuple[str, str, str], Case] = {}
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()
    known: collections.Counter[str] = collections.Counter()
    pending = cases(COUNT)
    sent = 0
    deadline = time.monotonic() + TIME_LIMIT
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def client() -> None:
            nonlocal sent
            for case in pending:
                if time.monotonic() > deadline:
                    return
                sent += 1
                headers = {"Authorization": f"Bearer {API_KEY}"} if case.auth else {}
                headers.update(case.headers)
                if case.body is not None and "Content-Type" not in headers:
                    headers["Content-Type"] = "application/json"
                url = URL(gw.url + case.path, encoded=True)
                try:
                    async with http.request(case.method, url, data=case.body, headers=headers) as resp:
                        status, body = resp.status, await resp.read()
                except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
                    # A server may close the connection after answering 413 to a body it will not read.
                    if case.category == "body over limit":
                        statuses[(case.category, 413)] += 1
                        continue
                    problems[(case.category, case.path[:60], f"connection error {type(exc).__name__}")] += 1
                    continue
                statuses[(case.category, status)] += 1
                problem = shape_problem(case, status, body)
                if problem is None:
                    continue
                gap = next((g for g in KNOWN_GAPS if status == 500 and g.matches(case)), None)
                if gap is not None:
                    known[gap.name] += 1
                    continue
                key = (case.category, f"{case.method} {case.path[:60]}", problem)
                problems[key] += 1
                examples.setdefault(key, case)

        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))

        assert sent == COUNT, f"the loop hit its {TIME_LIMIT:g} s limit after {sent} of {COUNT} requests"
        report = "\n".join(f"{n:5d} × {cat}: {where}: {why}  e.g. body {examples[(cat, where, why)].body!r:.160}"
                           for (cat, where, why), n in problems.most_common(25))
        assert not problems, f"{sum(problems.values())} bad answers:\n{report}"
        gone = [gap.name for gap in KNOWN_GAPS if not known[gap.name]]
        assert not gone, f"fixed? these known gaps no longer occur, remove them from KNOWN_GAPS: {gone}"
        print(f"known gaps (5xx, reported in docs/reliability.md): {dict(known)}")

        generated = [r for r in emulator.requests[upstream_before:]
                     if any(fnmatch.fnmatch(r.operation, pattern) for pattern in GENERATING)]
        assert not generated, f"malformed requests reached upstream: {[r.operation for r in generated][:10]}"
        after = await snapshot(gw, data_dir)
        changed = {name: (len(before.get(name, [])), len(rows)) for name, rows in after.items() if before.get(name) != rows}
        assert not changed, f"stored data changed (rows before, after): {changed}; new: " + repr(
            {name: [r for r in after[name] if r not in before.get(name, [])][:3] for name in changed})[:1500]

        async with http.get(f"{gw.url}/health") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "ok"
        body = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "still alive"}]}
        async with http.post(f"{gw.url}/v1/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
            assert resp.status == 200, await resp.text()
    assert gw.pool.counts()["in_flight"] == 0
    categories = {category for category, _ in statuses}
    assert len(categories) >= 12, f"some categories never ran: {sorted(categories)}"
