"""What the admin site shows of accounts, keys and tokens: JSON-able dicts with every secret masked.

These are the only shapes the admin pages and the admin JSON API render, so
the masking rule lives in one place: credential values go through
:func:`flow2api.storage.crypto.mask`, proxy URLs through
:func:`flow2api.proxies.redact_proxy`, API keys and admin tokens are shown by
their stored prefix only.
"""

from __future__ import annotations

import time
from typing import Any

from flow2api.admin.store import AdminTokenRecord
from flow2api.apikeys import ApiKeyRecord
from flow2api.plugin import Kind
from flow2api.pool import AccountPool
from flow2api.proxies import redact_proxy
from flow2api.storage.accounts import AccountRecord
from flow2api.storage.crypto import mask

ACCOUNT_STATES = ("active", "cooling", "disabled", "errors")


def account_state(record: AccountRecord, now: float | None = None) -> str:
    """``disabled`` (by the operator or the health policy), ``cooling`` (after an upstream 429), ``errors``
    (enabled, with consecutive errors), else ``active``."""
    now = time.time() if now is None else now
    if not record.enabled:
        return "disabled"
    if record.cooldown_until and record.cooldown_until > now:
        return "cooling"
    if record.consecutive_errors:
        return "errors"
    return "active"


def account_view(record: AccountRecord, pool: AccountPool) -> dict[str, Any]:
    """One account for pages and ``/api/accounts``: masked ``secrets``, redacted ``proxy``, live ``in_flight``,
    and ``live``: what the family reports now (``AccountFamily.describe_state``, e.g. a connected browser).

    Times are Unix seconds; ``at_expires`` comes from the family's state when it keeps one.
    """
    state = {k: v for k, v in record.state.items() if isinstance(v, (str, int, float, bool)) or v is None}
    return {
        "id": record.id, "family": record.family, "email": record.email, "name": record.name, "remark": record.remark,
        "state": account_state(record), "enabled": record.enabled,
        "image_enabled": record.image_enabled, "video_enabled": record.video_enabled,
        "image_concurrency": record.image_concurrency, "video_concurrency": record.video_concurrency,
        "in_flight": {kind.value: pool.in_flight(record.id, kind) for kind in Kind},
        "proxy": redact_proxy(record.proxy_url) if record.proxy_url else None,
        "credits": record.credits, "tier": record.tier,
        "secrets": {name: mask(value) for name, value in sorted(record.secrets.items())},
        "family_state": state,
        "live": pool.describe(record.id),
        "consecutive_errors": record.consecutive_errors, "cooldown_until": record.cooldown_until,
        "ban_reason": record.ban_reason, "last_error": record.last_error,
        "use_count": record.use_count, "last_used_at": record.last_used_at,
        "created_at": record.created_at, "updated_at": record.updated_at,
    }


def key_view(record: ApiKeyRecord, now: float | None = None) -> dict[str, Any]:
    """One API key for pages and ``/api/keys``: ``prefix`` only, never the key; ``expired`` computed at ``now``."""
    now = time.time() if now is None else now
    return {
        "id": record.id, "name": record.name, "prefix": record.prefix, "rpm": record.rpm,
        "concurrency": record.concurrency, "models": list(record.models), "expires_at": record.expires_at,
        "expired": record.expires_at is not None and record.expires_at <= now, "enabled": record.enabled,
        "created_at": record.created_at, "last_used_at": record.last_used_at,
    }


def token_view(record: AdminTokenRecord) -> dict[str, Any]:
    """One admin token for the security page and ``/api/admin-tokens``: its prefix, never the token."""
    return {
        "id": record.id, "name": record.name, "prefix": record.prefix,
        "created_at": record.created_at, "last_used_at": record.last_used_at,
    }
