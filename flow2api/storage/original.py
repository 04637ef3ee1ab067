"""Reading the original flow2api's ``data/flow.db`` (a foreign SQLite file), read-only, for ``import-original``.

The tables and columns are the original's at HEAD (spec ``flow-upstream.md`` §5.12). Older files lack
the columns the original adds with ``ALTER TABLE`` at start-up, so rows are read with ``SELECT *`` and
used as mappings: a missing column reads as absent, never as an error. The file is opened with
``mode=ro`` (SQLite's URI form): the import never writes to it, even by accident.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SQLITE_MAGIC = b"SQLite format 3\x00"
# One row each (id = 1) in the original; their columns are settings (spec §5.12).
CONFIG_TABLES = ("admin_config", "proxy_config", "cache_config", "call_logic_config", "generation_config",
                 "captcha_config")
HISTORY_TABLES = ("token_stats", "tasks", "request_logs")  # counted for the summary, never imported


@dataclass(frozen=True, slots=True)
class OriginalDatabase:
    """What an import reads from the original's database.

    ``tokens``: every row of ``tokens`` (column → value; secrets in clear, as the original stores them);
    ``projects``: token id → ``[(project_id, project_name)]`` of its active projects, oldest first;
    ``config``: table → its first row for each of :data:`CONFIG_TABLES` present; ``history``: table →
    row count for each of :data:`HISTORY_TABLES` present.
    """

    tokens: list[dict[str, Any]]
    projects: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, int] = field(default_factory=dict)


def _rows(conn: sqlite3.Connection, table: str, order: str = "") -> list[dict[str, Any]]:
    # Table names come from the constants above, never from the file.
    return [dict(row) for row in conn.execute(f"SELECT * FROM {table}{order}")]  # noqa: S608


def read_original(path: str | Path) -> OriginalDatabase:
    """Read ``path``, the original's ``flow.db``; raises ``ValueError`` with one line when it is missing, not an
    SQLite file (its JSON export goes to ``flow2api accounts import``) or has no ``tokens`` table."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            magic = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if magic != SQLITE_MAGIC:
        raise ValueError(f"{path} is not an SQLite database; the original's JSON export is imported with "
                         "`flow2api accounts import FILE`")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "tokens" not in tables:
            raise ValueError(f"{path} is not the original flow2api's database: it has no table 'tokens'")
        projects: dict[int, list[tuple[str, str]]] = defaultdict(list)
        if "projects" in tables:
            for row in _rows(conn, "projects", " ORDER BY rowid"):
                if row.get("project_id") and row.get("token_id") is not None and row.get("is_active", 1):
                    projects[row["token_id"]].append((row["project_id"], row.get("project_name") or ""))
        config = {}
        for table in CONFIG_TABLES:
            if table in tables:
                found = _rows(conn, table, " ORDER BY rowid LIMIT 1")
                if found:
                    config[table] = found[0]
        history = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                   for t in HISTORY_TABLES if t in tables}
        return OriginalDatabase(_rows(conn, "tokens", " ORDER BY id"), dict(projects), config, history)
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: cannot read it as the original's database: {exc}") from None
    finally:
        conn.close()
