"""``flow2api import-original``: the original flow2api's ``data/flow.db`` → accounts and settings here.

* **Tokens** become ``videofx`` accounts, stored through :meth:`AccountRepository.upsert
  <flow2api.storage.accounts.AccountRepository.upsert>` (the ST sealed by the secrets key, as ``accounts
  add`` stores it) with their proxy, concurrency limits, image/video and enabled flags, remark, name,
  last known tier and credits, and their active projects. Nothing is asked of labs.google: no access
  token is stored, so the account's first lease (or the server's maintenance round) exchanges the ST for
  an AT and re-reads credits and tier; a dead ST then disables the account ("session expired").
  ``--check`` instead checks each ST now, like ``accounts add`` (ST → AT, e-mail, credits).
* **Idempotent**: a token whose ST or e-mail is already an account here is skipped, and said so.
* **Settings** of its ``*_config`` tables (what its admin site saved; they won over its file there) are
  read as the original's ``setting.toml`` keys and mapped by :mod:`flow2api.settings_original`, then
  stored as the admin site stores a change (sealed, applied at the next start, winning over the file).
  Only values that differ from those in force are stored; the well-known key ``han1234`` is not.
* The summary names imported and skipped accounts and ignored fields; never a secret (no ST, key,
  password, nor a proxy URL, which may hold one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flow2api.admin.overrides import SettingsOverrides
from flow2api.admin.settings_edit import SettingsEditor
from flow2api.clientkey import WELL_KNOWN_KEY
from flow2api.errors import Flow2APIError
from flow2api.plugin import Provider
from flow2api.pool import AccountPool
from flow2api.proxies import validate_proxy_url
from flow2api.settings import SettingsError, SettingsHolder
from flow2api.settings_original import translate
from flow2api.storage.accounts import AccountRecord
from flow2api.storage.original import OriginalDatabase, read_original

FAMILY = "videofx"
INACTIVE = "disabled in the original flow2api"
# tokens columns this import uses; any other column holding a value is named as ignored
TOKEN_COLUMNS = frozenset({
    "id", "st", "email", "name", "remark", "is_active", "ban_reason", "credits", "user_paygate_tier",
    "image_enabled", "video_enabled", "image_concurrency", "video_concurrency", "proxy_url", "captcha_proxy_url",
})
# config table → column → the original's setting.toml (section, key) it stores (spec §5.12)
CONFIG_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "admin_config": {"username": ("global", "admin_username"), "password": ("global", "admin_password"),
                     "api_key": ("global", "api_key"), "error_ban_threshold": ("admin", "error_ban_threshold")},
    "proxy_config": {"enabled": ("proxy", "proxy_enabled"), "proxy_url": ("proxy", "proxy_url")},
    "cache_config": {"cache_enabled": ("cache", "enabled"), "cache_timeout": ("cache", "timeout"),
                     "cache_base_url": ("cache", "base_url")},
    "call_logic_config": {"call_mode": ("call_logic", "call_mode")},
    "generation_config": {"image_timeout": ("generation", "image_timeout"),
                          "video_timeout": ("generation", "video_timeout")},
}
ROW_COLUMNS = frozenset({"id", "created_at", "updated_at"})  # bookkeeping of every config row
ADMIN_LOGIN = ("admin_username", "admin_password")  # changed by the change-password form, not the settings page


def _limit(value: Any) -> int:
    return value if isinstance(value, int) and value >= -1 else -1


def account_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The editable account fields for one original ``tokens`` row (spec §5.12 columns → ours).

    ``is_active`` → ``enabled`` (a disabled one keeps its ``ban_reason``), ``proxy_url`` (else
    ``captcha_proxy_url``) → ``proxy_url``, concurrency ``-1`` = unlimited. Raises ``ValueError`` for a
    proxy URL unusable here (message without its password).
    """
    active = bool(row.get("is_active", 1))
    fields: dict[str, Any] = {
        "enabled": active, "remark": (row.get("remark") or "")[:2000],
        "image_enabled": bool(row.get("image_enabled", 1)), "video_enabled": bool(row.get("video_enabled", 1)),
        "image_concurrency": _limit(row.get("image_concurrency")),
        "video_concurrency": _limit(row.get("video_concurrency")),
    }
    if not active:
        fields["ban_reason"] = row.get("ban_reason") or INACTIVE
    proxy = (row.get("proxy_url") or row.get("captcha_proxy_url") or "").strip()
    if proxy:
        fields["proxy_url"] = validate_proxy_url(proxy)
    return fields


def slot_limit(enabled: bool, value: int) -> str:
    """An account's image or video slots in words: ``off`` (kind disabled), ``unlimited`` (``-1``) or the number."""
    return "off" if not enabled else ("unlimited" if value < 0 else str(value))


def _describe(token_id: Any, record: AccountRecord, projects: int) -> str:
    limit = slot_limit
    state = "enabled" if record.enabled else f"disabled ({record.ban_reason})"
    return (f"  token {token_id} → account {record.id} {record.email}: {state}, "
            f"proxy {'yes' if record.proxy_url else 'no'}, image {limit(record.image_enabled, record.image_concurrency)}, "
            f"video {limit(record.video_enabled, record.video_concurrency)}, {projects} project(s)")


async def _import_tokens(pool: AccountPool, original: OriginalDatabase, *, check: bool) -> list[str]:
    sts = {r.secrets.get("st") for r in pool.records() if r.family == FAMILY}
    emails = {r.email.lower() for r in pool.records() if r.family == FAMILY}
    imported: list[str] = []
    skipped: list[str] = []
    for row in original.tokens:
        st, email, token = (row.get("st") or "").strip(), (row.get("email") or "").strip(), row.get("id")
        try:
            if not st:
                raise ValueError("no session token")
            if st in sts or (email and email.lower() in emails):
                raise ValueError(f"already an account here (same {'ST' if st in sts else 'e-mail'})")
            if not email and not check:
                raise ValueError("no e-mail in the original database; run with --check to read it from labs.google")
            fields = account_fields(row)
            if check:  # the family checks the ST and reports e-mail, name, tier and credits
                enabled, reason = fields.pop("enabled"), fields.pop("ban_reason", None)
                record = await pool.add(FAMILY, {"st": st}, **fields)
                if not enabled:
                    record = await pool.update(record.id, enabled=False, ban_reason=reason)
            else:
                credits = row.get("credits")
                record = await pool.repo.upsert(
                    FAMILY, email, secrets={"st": st}, name=row.get("name") or "",
                    tier=row.get("user_paygate_tier") or None,
                    credits=credits if isinstance(credits, int) else None, **fields)
        except (ValueError, Flow2APIError) as exc:
            skipped.append(f"  token {token} {email or '(no e-mail)'}: {getattr(exc, 'message', None) or exc}")
            continue
        projects = original.projects.get(token, [])
        for project_id, title in projects:
            await pool.repo.add_project(record.id, project_id, title)
        sts.add(st)
        emails.add(record.email.lower())
        imported.append(_describe(token, record, len(projects)))
    when = ("checked with labs.google now" if check else
            "not checked yet: the ST is exchanged for an access token, credits and tier on first use or at the "
            "server's next maintenance round; --check does it now")
    return ([f"imported {len(imported)} account(s) ({when}):"] + imported
            + [f"skipped {len(skipped)} token(s):"] + skipped)


def _original_settings(original: OriginalDatabase) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The config tables as the original's setting.toml sections (empty values left out), and the unmapped
    columns holding a value, as ``table.column``."""
    sections: dict[str, dict[str, Any]] = {}
    unmapped: list[str] = []
    for table, row in original.config.items():
        columns = CONFIG_COLUMNS.get(table)
        for column, value in row.items():
            if column in ROW_COLUMNS or value is None or value == "":
                continue
            # captcha_config's columns carry the file's [captcha] key names (spec §5.12)
            where = ("captcha", column) if table == "captcha_config" else (columns or {}).get(column)
            if where is None:
                unmapped.append(f"{table}.{column}")
            else:
                sections.setdefault(where[0], {})[where[1]] = value
    return sections, unmapped


async def _import_settings(editor: SettingsEditor, overrides: SettingsOverrides,
                           original: OriginalDatabase) -> tuple[list[str], list[str]]:
    """Store the mapped settings that differ from those in force; returns (stored, ignored) as ``[section] key``."""
    sections, ignored = _original_settings(original)
    ours, dropped = translate(sections, keep_unknown=False)
    ignored += dropped
    stored: list[str] = []
    current = editor.holder.current
    login = ours.get("global", {})
    if login.get("api_key") == WELL_KNOWN_KEY:
        del login["api_key"]
        ignored.append(f"[global] api_key (the well-known default '{WELL_KNOWN_KEY}')")
    for key in ADMIN_LOGIN:
        if key not in login:
            continue
        value = login.pop(key)
        held = getattr(current.global_, key)
        if value != (held.get_secret_value() if hasattr(held, "get_secret_value") else held):
            await overrides.save("global", {key: value})
            stored.append(f"[global] {key}")
    for section, values in ours.items():
        for key, value in values.items():
            try:
                changed = editor.plan({section: {key: value}})
            except SettingsError as exc:
                ignored.append(f"[{section}] {key} ({exc})")
                continue
            for name, keys in changed.items():
                await overrides.save(name, keys)
                stored += [f"[{name}] {k}" for k in keys]
    return stored, ignored


async def import_original(pool: AccountPool, overrides: SettingsOverrides, providers: Mapping[str, Provider],
                          path: str | Path,
                          *, check: bool = False) -> list[str]:
    """Import ``path`` (the original's ``flow.db``) into ``pool``'s database and ``overrides``; returns the summary
    lines. ``providers`` are the installed ones (they validate plugin sections such as ``[captcha]``).

    Raises ``ValueError`` when the file cannot be read as the original's database. One bad token is reported
    and skipped; the others are imported.
    """
    original = read_original(path)
    editor = SettingsEditor(SettingsHolder(pool.settings), providers, overrides)
    lines = [f"{path}: {len(original.tokens)} token(s), {sum(map(len, original.projects.values()))} project(s), "
             f"{len(original.config)} settings table(s)"]
    lines += await _import_tokens(pool, original, check=check)
    stored, ignored = await _import_settings(editor, overrides, original)
    columns = sorted({c for row in original.tokens for c, v in row.items()
                      if c not in TOKEN_COLUMNS and v not in (None, "")})
    ignored = [f"tokens.{c}" for c in columns] + ignored
    lines.append("settings stored (as if saved in the admin site; applied at the next start, they win over the "
                 f"settings file): {', '.join(stored) or 'none (already as configured)'}")
    if "[global] admin_password" in stored:
        lines.append("admin site: log in with the original's admin login; you will be asked to change the password")
    lines.append(f"ignored fields: {', '.join(ignored) or 'none'}")
    if original.history:
        lines.append("not imported (history): " + ", ".join(f"{t} ({n} rows)" for t, n in original.history.items()))
    return lines
