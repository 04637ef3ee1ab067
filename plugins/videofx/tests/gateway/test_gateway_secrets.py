"""Secrets (ST, AT, API key) never reach the SQLite file in clear, nor any log line."""

from __future__ import annotations

import logging
from pathlib import Path

from openai import AsyncOpenAI

from videofx_gateway import API_KEY, Upstream, make_settings


async def test_st_and_at_are_encrypted_at_rest_and_never_logged(
    tmp_path: Path, upstream: Upstream, start_gateway, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway(make_settings(tmp_path, upstream))
    account = upstream.emulator.add_account("bob@example.com", tier="PAYGATE_TIER_ONE")
    await gw.pool.add("videofx", {"st": account.st})
    client = AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=API_KEY, max_retries=0)
    await client.chat.completions.create(
        model="gemini-3.1-flash-image-landscape", messages=[{"role": "user", "content": "a boat"}],
    )
    record = gw.pool.records()[0]
    at = record.secrets["at"]
    assert record.secrets["st"] == account.st and len(at) > 20
    await gw.server.close()  # flush and close the database before reading its files
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("flow2api.db*"))
    assert stored, "no database file written"
    for secret in (account.st, at, API_KEY):
        assert secret.encode() not in stored
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert len(caplog.records) > 5, "the test captured no log lines"
    for secret in (account.st, at, API_KEY):
        assert secret not in logged
