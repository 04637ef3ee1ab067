"""Drill: secrets never appear in clear — not in any log record, the SQLite files, the data directory or an answer.

Secrets: the STs of the accounts (and of one that upstream refuses), every AT
the emulator issued during the run (refreshes included), the settings' API
key, a key created by an operator, a key revoked mid-run, and the reCAPTCHA
solver's API key. Traffic covers every public surface with both keys — chat
(plain and streamed, image and video), Images generations and edits, the
Videos API (create, retrieve, list, content, delete), Gemini (header key,
``?key=`` query key, streamed), models, media, health, metrics — and the
error paths: unknown and revoked keys, upstream 429, 5xx, refused reCAPTCHA,
an AT expired mid-run (refresh), a refused ST, a safety refusal, a failed
video, a malformed upstream answer, and malformed ``Authorization`` header
lines (answered by aiohttp's own HTTP parser).

Logs are captured at DEBUG from every logger (flow2api, the plugin, aiohttp,
asyncio, aiosqlite) and checked as formatted lines, tracebacks included.
flow2api's own records are checked *without* the redaction filter of
``flow2api.logs`` — its code must not log a secret in the first place —
library records through it, as the production log handler does: aiohttp logs
the raw ``Authorization`` line of a request it cannot parse, at ERROR.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from flow2api.apikeys import API_KEYS
from flow2api.logs import REDACTOR, SecretRedactor
from videofx_gateway import API_KEY, Upstream, make_settings
from videofx_drills import IMAGE_MODEL, eventually

pytestmark = pytest.mark.reliability

VIDEO_MODEL = "veo_3_1_t2v_fast_landscape"
GEMINI = "/v1beta/models/gemini-3.1-flash-image"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


async def raw_request(host: str, port: int, head: bytes) -> bytes:
    """Send raw bytes (a request head the HTTP client would refuse to build) and read the answer."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


async def test_no_secret_in_logs_database_files_or_answers(
    tmp_path: Path, drill_upstream: Upstream, start_gateway, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = drill_upstream.emulator
    emulator.settings.solver_client_key = "drill-solver-key-5f3a9c1e7b"
    gw = await start_gateway(make_settings(tmp_path, drill_upstream, generation={"keepalive_interval": 0.05},
                                           admin={"error_ban_threshold": 0}, logging={"level": "DEBUG"}))
    alice = emulator.add_account("alice@example.com", tier="PAYGATE_TIER_TWO", credits=100_000)
    bob = emulator.add_account("bob@example.com", tier="PAYGATE_TIER_TWO", credits=100_000)
    for account in (alice, bob):
        await gw.pool.add("videofx", {"st": account.st})
    refused_st = alice.st[:-8] + "AAAAAAAA"
    with pytest.raises(Exception):  # noqa: B017 - whatever the family raises for a refused ST
        await gw.pool.add("videofx", {"st": refused_st})
    store = gw.app[API_KEYS]
    _, operator_key = await store.create("drill operator")
    revoked_record, revoked_key = await store.create("drill revoked")

    answers: list[bytes] = []

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def call(method: str, path: str, key: str | None = API_KEY, *, header: str = "bearer", **kwargs) -> bytes:
            headers = dict(kwargs.pop("headers", {}))
            if key is not None and header == "bearer":
                headers["Authorization"] = f"Bearer {key}"
            elif key is not None:
                headers["x-goog-api-key"] = key
            async with http.request(method, gw.url + path, headers=headers, **kwargs) as resp:
                body = await resp.read()
            answers.append(repr(dict(resp.headers)).encode() + body)
            return body

        chat = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "a lighthouse"}]}
        for key in (API_KEY, operator_key):
            await call("POST", "/v1/chat/completions", key, json=chat)
            await call("POST", "/v1/chat/completions", key, json={**chat, "stream": True})
            await call("POST", "/v1/images/generations", key,
                       json={"model": IMAGE_MODEL, "prompt": "a lighthouse", "n": 2, "response_format": "b64_json"})
            form = aiohttp.FormData()
            form.add_field("model", IMAGE_MODEL)
            form.add_field("prompt", "make it red")
            form.add_field("image", png(), filename="in.png", content_type="image/png")
            await call("POST", "/v1/images/edits", key, data=form)
            await call("POST", f"{GEMINI}:generateContent", key, header="goog",
                       json={"contents": [{"parts": [{"text": "a lighthouse"}]}]})
            await call("POST", f"{GEMINI}:streamGenerateContent?alt=sse&key={key}", None,
                       json={"contents": [{"parts": [{"text": "a lighthouse"}]}]})
            await call("GET", "/v1/models", key)
            await call("GET", "/v1beta/models", key, header="goog")
        await call("POST", "/v1/chat/completions", json={
            "model": VIDEO_MODEL, "messages": [{"role": "user", "content": "waves"}], "stream": True})
        created = await call("POST", "/v1/videos", operator_key, json={"model": VIDEO_MODEL, "prompt": "waves"})
        video_id = json.loads(created)["id"]

        async def finished() -> bool:
            body = await call("GET", f"/v1/videos/{video_id}", operator_key)
            return b'"completed"' in body or b'"failed"' in body

        deadline = time.monotonic() + 30
        while not await finished():
            assert time.monotonic() < deadline, "the video job did not finish"
            await asyncio.sleep(0.05)
        await call("GET", f"/v1/videos/{video_id}/content", operator_key)
        await call("GET", "/v1/videos?limit=5", operator_key)
        await call("DELETE", f"/v1/videos/{video_id}", operator_key)
        await call("GET", "/health", None)
        await call("GET", "/metrics", None)

        # error paths
        await call("GET", "/v1/models", "sk-f2a-not-a-real-key-0123456789")
        await store.revoke(revoked_record.id)
        await call("POST", "/v1/chat/completions", revoked_key, json=chat)
        emulator.faults.add({"kind": "status", "status": 429, "retry_after": 1, "operation": "batchGenerateImages",
                             "count": 1})
        await call("POST", "/v1/chat/completions", json=chat)
        await asyncio.sleep(1.1)  # the 429 account's cool-down
        emulator.faults.add({"kind": "status", "status": 500, "operation": "batchGenerateImages", "count": 4})
        await call("POST", "/v1/chat/completions", json=chat)  # every attempt fails: the error reaches the client
        emulator.faults.add({"kind": "captcha_fail", "operation": "batchGenerateImages", "count": 1})
        await call("POST", "/v1/chat/completions", json=chat)
        issued = len(emulator.world.access_tokens)
        emulator.faults.add({"kind": "expire_at", "account": "alice@example.com", "count": 1})
        emulator.faults.add({"kind": "expire_at", "account": "bob@example.com", "count": 1})
        for _ in range(8):  # until both accounts were used and refreshed (which one a request gets varies)
            await call("POST", "/v1/chat/completions", json=chat)
            if len(emulator.world.access_tokens) >= issued + 2:
                break
        emulator.faults.add({"kind": "safety", "operation": "batchGenerateImages", "count": 1})
        await call("POST", "/v1/chat/completions", json=chat)
        emulator.faults.add({"kind": "bad_shape", "operation": "batchGenerateImages", "count": 2})
        await call("POST", "/v1/chat/completions", json=chat)
        emulator.faults.add({"kind": "video_fail", "count": 1})
        await call("POST", "/v1/chat/completions", json={
            "model": VIDEO_MODEL, "messages": [{"role": "user", "content": "waves"}], "stream": True})
        host, port = gw.server.host, gw.server.port
        for line in (b"Authorization: Bearer " + operator_key.encode() + b"\x01",
                     b"Authorization: Bearer " + API_KEY.encode() + b"x" * 9000):
            # aiohttp's parser answers 400 and echoes the offending line to its sender (not a leak: the sender
            # has the key); what matters is that it is not logged.
            answer = await raw_request(host, port, b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n" + line
                                       + b"\r\nConnection: close\r\n\r\n")
            assert answer.startswith(b"HTTP/1.") and b" 400 " in answer[:20]

    await eventually(lambda: gw.pool.counts()["in_flight"] == 0, 10, "leases released")
    ats = list(emulator.world.access_tokens)
    assert len(ats) >= 4, "expected refreshes to issue new ATs"
    secrets = {"ST alice": alice.st, "ST bob": bob.st, "refused ST": refused_st, "settings API key": API_KEY,
               "operator key": operator_key, "revoked key": revoked_key,
               "solver key": emulator.settings.solver_client_key, **{f"AT {i}": at for i, at in enumerate(ats)}}
    await gw.server.close()  # flush and close the database before reading its files

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = []
    for record in caplog.records:
        if record.name == "aiohttp.access":
            # aiohttp's own access logger is on in test servers, off in `flow2api serve` (AppRunner(access_log=None));
            # it logs query strings, so a Gemini ?key= would be in it (docs/reliability.md).
            continue
        if not record.name.startswith("flow2api"):
            # Library records (aiohttp.server logs the raw line of a request it cannot parse) go through the
            # production handler's redaction filter, as in `flow2api serve`; flow2api's own are checked raw.
            record = logging.makeLogRecord(record.__dict__)
            REDACTOR.filter(record)
        lines.append(formatter.format(record))
    assert len(lines) > 50, "the drill captured too few log lines to mean anything"
    logged = "\n".join(lines)
    files = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file() and p.name != "secret.key"}
    assert any(p.name.startswith("flow2api.db") for p in files)
    leaks = []
    for name, secret in secrets.items():
        hits = [line[:160] for line in lines if secret in line]
        if hits:
            leaks.append(f"{name} in {len(hits)} log line(s), e.g. {hits[0]!r}")
        leaks += [f"{name} in {path.name}" for path, data in files.items() if secret.encode() in data]
        leaks += [f"{name} in an HTTP answer: {a[:160]!r}" for a in answers if secret.encode() in a]
    assert not leaks, "secrets in clear:\n" + "\n".join(leaks)
    assert "refreshing" in logged or "refreshed" in logged, "the drill did not exercise a credential refresh"

    # The safety net on its own: registered secrets and credential shapes, in messages and tracebacks.
    redactor = SecretRedactor()
    redactor.register(alice.st, *ats)
    try:
        raise ValueError(f"bad line b'Authorization: Bearer {operator_key}\\x01'")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s and %s", (alice.st, ats[0]),
                                   sys.exc_info())
    redactor.filter(record)
    text = formatter.format(record)
    assert alice.st not in text and ats[0] not in text and operator_key not in text and "[redacted]" in text
