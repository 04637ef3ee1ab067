"""The schema scripts of the ``sqlite3`` storage (before SQLAlchemy and Alembic), kept to adopt its old files.

A file made by that code records in ``PRAGMA user_version`` how many of these
scripts ran. :mod:`flow2api.storage.migrate` runs the missing ones of the
first five (the schema Alembic's revision ``0001`` is), then stamps the file
with the matching Alembic revision; nothing here runs on a database created
since. Never edit these: they are what old files hold.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: accounts, projects, tasks, request logs
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        family TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        remark TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 1,
        image_enabled INTEGER NOT NULL DEFAULT 1,
        video_enabled INTEGER NOT NULL DEFAULT 1,
        image_concurrency INTEGER NOT NULL DEFAULT -1,
        video_concurrency INTEGER NOT NULL DEFAULT -1,
        proxy_url TEXT,
        credits INTEGER,
        tier TEXT,
        secrets BLOB,
        state TEXT NOT NULL DEFAULT '{}',
        consecutive_errors INTEGER NOT NULL DEFAULT 0,
        cooldown_until REAL,
        ban_reason TEXT,
        last_error TEXT,
        use_count INTEGER NOT NULL DEFAULT 0,
        last_used_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (family, email)
    );
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        project_id TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        UNIQUE (account_id, project_id)
    );
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        account_id INTEGER,
        api_key TEXT,
        result TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        completed_at REAL
    );
    CREATE INDEX tasks_status ON tasks(status);
    CREATE TABLE request_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        model TEXT,
        status INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        account_id INTEGER,
        api_key TEXT,
        error TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX request_logs_created ON request_logs(created_at);
    """,
    # 2: where an accepted upstream job can be resumed from (plugin Submitted.resume, JSON)
    """
    ALTER TABLE tasks ADD COLUMN resume TEXT;
    """,
    # 3: client API keys (SHA-256 of the key; the key itself is shown once at creation)
    """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        rpm INTEGER NOT NULL DEFAULT 0,
        concurrency INTEGER NOT NULL DEFAULT 0,
        models TEXT NOT NULL DEFAULT '[]',
        expires_at REAL,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    """,
    # admin site: the admin login (argon2 hash), admin API tokens (SHA-256), revoked sessions,
    # and settings changed in the admin site (values sealed with the secrets key)
    """
    CREATE TABLE admin_credentials (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        seed_hash TEXT NOT NULL,
        must_change INTEGER NOT NULL DEFAULT 1,
        changed_at REAL NOT NULL
    );
    CREATE TABLE admin_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE TABLE admin_revoked_sessions (
        sid TEXT PRIMARY KEY,
        until REAL NOT NULL
    );
    CREATE TABLE settings_overrides (
        section TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (section, key)
    );
    """,
    # issue 6: task ownership, surface, what a queued Videos API job needs to be submitted again,
    # idempotency keys, soft delete; daily usage statistics per account, key and model
    """
    ALTER TABLE tasks ADD COLUMN surface TEXT;
    ALTER TABLE tasks ADD COLUMN owner TEXT;
    ALTER TABLE tasks ADD COLUMN api_key_id INTEGER;
    ALTER TABLE tasks ADD COLUMN request TEXT;
    ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
    ALTER TABLE tasks ADD COLUMN request_hash TEXT;
    ALTER TABLE tasks ADD COLUMN deleted_at REAL;
    CREATE UNIQUE INDEX tasks_idempotency ON tasks(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_owner_surface ON tasks(owner, surface, created_at);
    CREATE TABLE usage_daily (
        day TEXT NOT NULL,
        account_id INTEGER NOT NULL,
        api_key_id INTEGER NOT NULL,
        api_key TEXT NOT NULL,
        model TEXT NOT NULL,
        kind TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        succeeded INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        outputs INTEGER NOT NULL DEFAULT 0,
        duration_ms REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (day, account_id, api_key_id, model)
    );
    """,
    # issue 17: one revision per scope of live state (api_keys, accounts, settings), bumped with every change,
    # so a server notices what another process (the CLI) changed (flow2api.storage.changes)
    """
    CREATE TABLE changes (
        scope TEXT PRIMARY KEY,
        revision INTEGER NOT NULL
    );
    """,
]

#: The Alembic revision a file made by the ``sqlite3`` code is at, by its ``user_version`` (after the scripts).
STAMPS = {5: "0001", 6: "0002"}
