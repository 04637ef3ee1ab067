"""``flow2api import-original --check`` against the emulator: each token of the original's flow.db is checked with
labs.google (ST → AT, e-mail, credits, tier) before it is stored; a dead one is reported and skipped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from videofx_gateway import Upstream

from flow2api.testing import run_cli as flow2api
from flow2api.testing.processes import write_config

# The part of the original's tokens table (spec flow-upstream.md §5.12) this test fills; an older file's shape.
TOKENS = """CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, st TEXT UNIQUE NOT NULL, email TEXT,
    is_active BOOLEAN DEFAULT 1, ban_reason TEXT, image_concurrency INTEGER DEFAULT -1)"""


async def test_import_original_check_reads_each_token_from_labs(tmp_path: Path, upstream: Upstream) -> None:
    account = upstream.emulator.add_account("checked@example.com", tier="PAYGATE_TIER_TWO", credits=77)
    database = tmp_path / "flow.db"
    conn = sqlite3.connect(database)
    conn.execute(TOKENS)
    conn.execute("INSERT INTO tokens (st, email, is_active, ban_reason, image_concurrency) VALUES (?, NULL, 0, NULL, 3)",
                 (account.st,))
    conn.execute("INSERT INTO tokens (st, email) VALUES ('dead-session-token-0123456789', 'gone@example.com')")
    conn.commit()
    conn.close()
    config = str(write_config(tmp_path / "flow2api.toml", upstream.sections()))
    data = str(tmp_path / "data")
    code, out, err = await flow2api("import-original", str(database), "--check", "--config", config, "--data-dir", data)
    assert code == 0, err
    assert "imported 1 account(s) (checked with labs.google now)" in out
    assert "checked@example.com: disabled (disabled in the original flow2api)" in out and "image 3" in out
    assert "token 2 gone@example.com: " in out and "expired or revoked" in out
    code, listed, err = await flow2api("accounts", "list", "--config", config, "--data-dir", data)
    assert code == 0, err
    assert "checked@example.com\tPAYGATE_TIER_TWO\t77\tdisabled" in listed and "gone@example.com" not in listed
    for text in (out, err, listed):
        assert account.st not in text and account.st[-12:] not in text and "dead-session-token" not in text
