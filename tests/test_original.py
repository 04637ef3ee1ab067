"""Issue 19 item 11: users of the original flow2api bring its ``config/setting.toml`` and ``data/flow.db``.

The file and the database are written here from spec ``flow-upstream.md`` §5.12 (the original's key
names and schema), not copied from the original. The commands run as real subprocesses on a tmp data dir.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from flow2api.commands import account_pool
from flow2api.settings import SettingsError, load_settings
from flow2api.settings_original import markdown_table
from flow2api.startup import prepare
from flow2api.testing import REPO, run_cli
from flow2api.testing.processes import free_port, needs_providers, spawn_cli, stop, wait_ready

# The original's file and accounts are the labs.google family's ([flow], [captcha], ST tokens): without its
# plugin the file has sections nobody claims (exit 2) and the accounts no family.
needs_videofx = needs_providers("videofx-image", "videofx-video")

CLIENT_KEY = "orig-client-key-4242"
ADMIN_PASSWORD = "orig-admin-pass-7777"
SOLVER_KEY = "yes-solver-secret-9999"
STS = ["st-alpha-" + "a" * 40, "st-bravo-" + "b" * 40, "st-charlie-" + "c" * 40]

# The original's example setting.toml, every section and key of spec §5.12.
ORIGINAL_TOML = f"""
[global]
api_key = "{CLIENT_KEY}"
admin_username = "boss"
admin_password = "{ADMIN_PASSWORD}"

[flow]
labs_base_url = "https://labs.google/fx/api"
api_base_url = "https://aisandbox-pa.googleapis.com/v1"
timeout = 120
max_retries = 3
image_request_timeout = 40
image_timeout_retry_count = 1
image_timeout_retry_delay = 0.8
image_timeout_use_media_proxy_fallback = true
image_prefer_media_proxy = false
image_slot_wait_timeout = 12
image_launch_soft_limit = 0
image_launch_wait_timeout = 180
image_launch_stagger_ms = 0
video_slot_wait_timeout = 34
video_launch_soft_limit = 0
video_launch_wait_timeout = 180
video_launch_stagger_ms = 0
poll_interval = 3.0
max_poll_attempts = 200

[server]
host = "127.0.0.1"
port = 8000

[debug]
enabled = true
log_requests = true
log_responses = true
mask_token = true

[proxy]
proxy_enabled = false
proxy_url = ""

[generation]
image_timeout = 300
video_timeout = 1500

[call_logic]
call_mode = "default"

[admin]
error_ban_threshold = 3

[cache]
enabled = false
timeout = 7200
base_url = ""

[captcha]
captcha_method = "browser"
yescaptcha_api_key = "{SOLVER_KEY}"
yescaptcha_base_url = "https://api.yescaptcha.com"
yescaptcha_task_type = "RecaptchaV3TaskProxylessM1S9"
capmonster_api_key = ""
capmonster_base_url = "https://api.capmonster.cloud"
ezcaptcha_api_key = ""
ezcaptcha_base_url = "https://api.ez-captcha.com"
capsolver_api_key = ""
capsolver_base_url = "https://api.capsolver.com"
remote_browser_base_url = ""
remote_browser_api_key = ""
remote_browser_timeout = 60
browser_recaptcha_settle_seconds = 3
browser_count = 1
browser_captcha_max_retries = 3
browser_captcha_generation_retries = 6
personal_project_pool_size = 6
personal_max_resident_tabs = 5
browser_personal_fresh_restart_every_n_solves = 0
personal_idle_tab_ttl_seconds = 600
"""
IGNORED = [
    "[flow] image_timeout_retry_count", "[flow] image_launch_stagger_ms", "[debug] log_requests", "[cache] enabled",
    "[captcha] captcha_method ('browser' is not an installed reCAPTCHA source)", "[captcha] browser_count",
    "[captcha] remote_browser_timeout", "[captcha] personal_idle_tab_ttl_seconds",
]

# The original's data/flow.db tables that an import reads (spec §5.12), as its start-up creates them.
ORIGINAL_DDL = """
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT, st TEXT UNIQUE NOT NULL, at TEXT, at_expires TIMESTAMP, email TEXT,
    name TEXT, remark TEXT, is_active BOOLEAN DEFAULT 1, credits INTEGER DEFAULT 0, user_paygate_tier TEXT,
    current_project_id TEXT, current_project_name TEXT, image_enabled BOOLEAN DEFAULT 1,
    video_enabled BOOLEAN DEFAULT 1, image_concurrency INTEGER DEFAULT -1, video_concurrency INTEGER DEFAULT -1,
    captcha_proxy_url TEXT, proxy_url TEXT, ban_reason TEXT, banned_at TIMESTAMP, use_count INTEGER DEFAULT 0,
    last_used_at TIMESTAMP, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project_id TEXT UNIQUE NOT NULL, token_id INTEGER NOT NULL,
    project_name TEXT NOT NULL, tool_name TEXT DEFAULT 'PINHOLE', is_active BOOLEAN DEFAULT 1,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE token_stats (
    id INTEGER PRIMARY KEY AUTOINCREMENT, token_id INTEGER NOT NULL, image_count INTEGER DEFAULT 0,
    video_count INTEGER DEFAULT 0, success_count INTEGER DEFAULT 0, error_count INTEGER DEFAULT 0,
    consecutive_error_count INTEGER DEFAULT 0
);
CREATE TABLE admin_config (
    id INTEGER PRIMARY KEY DEFAULT 1, username TEXT DEFAULT 'admin', password TEXT DEFAULT 'admin',
    api_key TEXT DEFAULT 'han1234', error_ban_threshold INTEGER DEFAULT 3, updated_at TIMESTAMP
);
CREATE TABLE proxy_config (
    id INTEGER PRIMARY KEY DEFAULT 1, enabled BOOLEAN DEFAULT 0, proxy_url TEXT, media_proxy_enabled BOOLEAN DEFAULT 0,
    media_proxy_url TEXT
);
CREATE TABLE cache_config (
    id INTEGER PRIMARY KEY DEFAULT 1, cache_enabled BOOLEAN DEFAULT 0, cache_timeout INTEGER DEFAULT 7200,
    cache_base_url TEXT
);
CREATE TABLE call_logic_config (
    id INTEGER PRIMARY KEY DEFAULT 1, call_mode TEXT DEFAULT 'default', polling_mode_enabled BOOLEAN DEFAULT 0
);
CREATE TABLE generation_config (id INTEGER PRIMARY KEY DEFAULT 1, image_timeout INTEGER, video_timeout INTEGER);
CREATE TABLE captcha_config (
    id INTEGER PRIMARY KEY DEFAULT 1, captcha_method TEXT, yescaptcha_api_key TEXT, yescaptcha_base_url TEXT,
    website_key TEXT, page_action TEXT
);
CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT, model TEXT, prompt TEXT, status TEXT);
"""


def original_database(path: Path) -> Path:
    """A flow.db with three tokens: one disabled (banned), one behind a proxy with limits, one plain."""
    conn = sqlite3.connect(path)
    conn.executescript(ORIGINAL_DDL)
    conn.executemany(
        "INSERT INTO tokens (st, at, email, name, remark, is_active, credits, user_paygate_tier, image_concurrency,"
        " video_concurrency, video_enabled, proxy_url, ban_reason, use_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (STS[0], "at-old-1", "alpha@example.com", "Alpha", "main", 1, 100, "PAYGATE_TIER_ONE", -1, -1, 1, None, None, 4),
            (STS[1], "at-old-2", "bravo@example.com", "Bravo", "", 0, 5, None, -1, -1, 1, None, "429_rate_limit", 9),
            (STS[2], None, "charlie@example.com", "", "via proxy", 1, 0, None, 2, 1, 0,
             "socks5://user:proxypass@10.0.0.9:1080", None, 0),
        ],
    )
    conn.execute("INSERT INTO projects (project_id, token_id, project_name) VALUES ('proj-a1', 1, 'Alpha P1')")
    conn.execute("INSERT INTO projects (project_id, token_id, project_name, is_active) VALUES ('proj-a0', 1, 'old', 0)")
    conn.execute("INSERT INTO admin_config (id, username, password, api_key, error_ban_threshold)"
                 f" VALUES (1, 'boss', '{ADMIN_PASSWORD}', '{CLIENT_KEY}', 5)")
    conn.execute("INSERT INTO proxy_config (id, enabled, proxy_url, media_proxy_url)"
                 " VALUES (1, 1, 'http://proxy.internal:3128', 'http://media.internal:3128')")
    conn.execute("INSERT INTO cache_config (id, cache_enabled, cache_timeout, cache_base_url)"
                 " VALUES (1, 1, 600, 'https://img.example.com')")
    conn.execute("INSERT INTO call_logic_config (id, call_mode) VALUES (1, 'polling')")
    conn.execute("INSERT INTO generation_config (id, image_timeout, video_timeout) VALUES (1, 300, 900)")
    conn.execute("INSERT INTO captcha_config (id, captcha_method, yescaptcha_api_key, website_key)"
                 f" VALUES (1, 'yescaptcha', '{SOLVER_KEY}', '6Lxyz')")
    conn.execute("INSERT INTO tasks (task_id, model, prompt, status) VALUES ('t1', 'veo', 'a cat', 'completed')")
    conn.commit()
    conn.close()
    return path


def test_the_original_setting_toml_is_mapped_and_its_ignored_keys_named_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "setting.toml"
    path.write_text(ORIGINAL_TOML, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="flow2api.settings"):
        settings = load_settings(path, environ={})
    assert settings.global_.api_key.get_secret_value() == CLIENT_KEY
    assert settings.global_.admin_username == "boss"
    assert settings.global_.admin_password.get_secret_value() == ADMIN_PASSWORD
    assert settings.generation.image_slot_wait_timeout == 12 and settings.generation.video_slot_wait_timeout == 34
    assert settings.logging.level == "DEBUG"  # [debug] enabled
    assert settings.call_logic.call_mode == "random"  # the original's "default" is random
    assert settings.plugin_sections["flow"]["project_pool_size"] == 6  # [captcha] personal_project_pool_size
    assert "captcha_method" not in settings.plugin_sections["captcha"]  # 'browser' is not installed here
    assert settings.source_of("generation", "image_slot_wait_timeout") == str(path)
    warnings = [r.getMessage() for r in caplog.records if "original flow2api" in r.getMessage()]
    assert len(warnings) == 1
    for key in IGNORED:
        assert key in warnings[0]
    for secret in (CLIENT_KEY, ADMIN_PASSWORD, SOLVER_KEY):
        assert secret not in caplog.text


def test_our_own_file_is_not_taken_for_the_original(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "flow2api.toml"
    path.write_text('[call_logic]\ncall_mode = "default"\n[cache]\ntimeout = 60\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="flow2api.settings"):
        settings = load_settings(path, environ={})
    assert settings.call_logic.call_mode == "default" and "original" not in caplog.text


@needs_videofx
async def test_serve_starts_with_the_original_setting_toml(tmp_path: Path) -> None:
    config = tmp_path / "setting.toml"
    config.write_text(ORIGINAL_TOML, encoding="utf-8")
    port, log = free_port(), tmp_path / "serve.log"
    proc = await spawn_cli("serve", "--config", str(config), "--port", str(port), "--data-dir", str(tmp_path / "data"),
                           log=log)
    try:
        await wait_ready(f"http://127.0.0.1:{port}", proc)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/v1/models",
                                headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as resp:
                assert resp.status == 200  # the original's [global] api_key is the client key
    finally:
        assert await stop(proc) == 0
    text = log.read_text(encoding="utf-8")
    assert text.count("is the original flow2api's setting.toml") == 1
    assert "[cache] enabled" in text and "[debug] log_requests" in text
    for secret in (CLIENT_KEY, ADMIN_PASSWORD, SOLVER_KEY):
        assert secret not in text


@needs_videofx
async def test_import_original_brings_tokens_and_settings_and_runs_twice(tmp_path: Path) -> None:
    database = original_database(tmp_path / "flow.db")
    data = str(tmp_path / "data")
    code, out, err = await run_cli("import-original", str(database), "--data-dir", data, clean=True)
    assert code == 0, err
    assert "imported 3 account(s)" in out and "skipped 0 token(s)" in out
    assert "disabled (429_rate_limit)" in out and "proxy yes, image 2, video off" in out
    for name in ("tokens.at", "tokens.use_count", "proxy_config.media_proxy_url", "[captcha] website_key",
                 "[cache] enabled"):
        assert name in out
    assert "tasks (1 rows)" in out
    for field in ("[global] api_key", "[global] admin_password", "[admin] error_ban_threshold", "[proxy] proxy_url",
                  "[cache] timeout", "[call_logic] call_mode", "[generation] video_timeout",
                  "[captcha] yescaptcha_api_key"):
        assert field in out.split("settings stored")[1].split("\n")[0]
    code, listed, err = await run_cli("accounts", "list", "--data-dir", data, clean=True)
    assert code == 0, err
    lines = {line.split("\t")[2]: line.split("\t") for line in listed.splitlines()[1:]}
    assert set(lines) == {"alpha@example.com", "bravo@example.com", "charlie@example.com"}
    assert lines["alpha@example.com"][3:6] == ["PAYGATE_TIER_ONE", "100", "enabled"]
    assert lines["bravo@example.com"][5] == "disabled (429_rate_limit)"
    for text in (out, err, listed):
        for secret in (*STS, CLIENT_KEY, ADMIN_PASSWORD, SOLVER_KEY, "proxypass", "at-old-1"):
            assert secret not in text and secret[-12:] not in text

    settings = load_settings(environ={"FLOW2API_DATA_DIR": data})
    async with account_pool(settings) as pool:
        records = {r.email: r for r in pool.records()}
        charlie = records["charlie@example.com"]
        assert charlie.proxy_url == "socks5://user:proxypass@10.0.0.9:1080"
        assert (charlie.image_concurrency, charlie.video_concurrency, charlie.video_enabled) == (2, 1, False)
        assert charlie.secrets == {"st": STS[2]}  # no AT: exchanged on first use
        assert pool.view(records["alpha@example.com"].id).projects == ("proj-a1",)
        assert pool.families["videofx"].refresh_due(pool.view(charlie.id), 0)
    served = prepare(settings).settings  # the stored settings, as `serve` applies them
    assert served.global_.api_key.get_secret_value() == CLIENT_KEY
    assert served.global_.admin_username == "boss"
    assert (served.admin.error_ban_threshold, served.call_logic.call_mode) == (5, "polling")
    assert served.global_proxy_url == "http://proxy.internal:3128"
    assert (served.cache.timeout, served.cache.base_url, served.generation.video_timeout) == (600, "https://img.example.com", 900)
    assert served.plugin_sections["captcha"]["yescaptcha_api_key"] == SOLVER_KEY

    code, again, err = await run_cli("import-original", str(database), "--data-dir", data, clean=True)
    assert code == 0, err
    assert "imported 0 account(s)" in again and "skipped 3 token(s)" in again
    assert again.count("already an account here (same ST)") == 3
    assert "settings stored (as if saved in the admin site; applied at the next start, they win over the " \
           "settings file): none" in again


async def test_import_original_refuses_what_is_not_its_database(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text('{"tokens": []}', encoding="utf-8")
    code, _, err = await run_cli("import-original", str(export), "--data-dir", str(tmp_path / "data"), clean=True)
    assert code == 2 and "flow2api accounts import" in err and "Traceback" not in err
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    code, _, err = await run_cli("import-original", str(other), "--data-dir", str(tmp_path / "data"), clean=True)
    assert code == 2 and "no table 'tokens'" in err


def test_migrating_doc_shows_the_mapping_table() -> None:
    assert markdown_table() in (REPO / "docs" / "migrating.md").read_text(encoding="utf-8")


async def test_an_older_database_without_later_columns_imports(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tokens (id INTEGER PRIMARY KEY, st TEXT UNIQUE, email TEXT, is_active BOOLEAN)")
    conn.execute("INSERT INTO tokens (st, email, is_active) VALUES ('st-old-xxxxxxxxxxxxxxxx', 'old@example.com', 1)")
    conn.execute("INSERT INTO tokens (st, email, is_active) VALUES ('st-nomail-xxxxxxxxxxxxx', NULL, 1)")
    conn.commit()
    conn.close()
    code, out, err = await asyncio.wait_for(run_cli("import-original", str(path), "--data-dir", str(tmp_path / "d"),
                                                    clean=True), 60)
    assert code == 0, err
    assert "imported 1 account(s)" in out and "old@example.com" in out and "run with --check" in out


def test_a_renamed_key_yields_to_ours_and_stray_values_still_fail(tmp_path: Path) -> None:
    path = tmp_path / "mixed.toml"
    path.write_text("[flow]\nimage_slot_wait_timeout = 12\n[generation]\nimage_slot_wait_timeout = 5\n"
                    "[cache]\nenabled = true\n", encoding="utf-8")
    assert load_settings(path, environ={}).generation.image_slot_wait_timeout == 5
    path.write_text("stray = 1\n[cache]\nenabled = true\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="top-level key 'stray'"):
        load_settings(path, environ={})
