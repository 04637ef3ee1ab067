"""Settings changed in the admin site: persisted in the database and re-applied at start-up.

The ``settings_overrides`` table holds one row per changed ``(section, key)``;
the value is JSON sealed with the secrets key (:class:`~flow2api.storage.SecretBox`),
because some of them are secrets (API keys of captcha solvers, the client API
key). Only keys whose value differs from the one in force are written, so
untouched keys keep following the settings file.

Start-up order: the file (plus ``FLOW2API_*``) is read, then
:func:`apply_stored_settings` lays the stored changes over it — core sections
and plugin sections alike — before providers are built. As in the original
project, a value changed in the admin site wins over the file from then on.
A stored value that no longer validates (after an upgrade, say) is skipped
with a log line naming section and key, never the value.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from flow2api.settings import CORE_SECTIONS, Settings, SettingsError
from flow2api.storage import Database, SecretBox, database_url, load_or_create_key
from flow2api.storage.overrides import SettingsOverrideRepository, read_overrides

log = logging.getLogger(__name__)

ADMIN_SOURCE = " + admin site"


def _seal(box: SecretBox, value: Any) -> bytes:
    return box.seal({"value": json.dumps(value)})


def _open(box: SecretBox, blob: bytes) -> Any:
    return json.loads(box.open(blob)["value"])


class SettingsOverrides:
    """The ``settings_overrides`` table (async, on the app's database)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._repo = SettingsOverrideRepository(db)
        self._box = box

    async def load(self) -> dict[str, dict[str, Any]]:
        """Every stored change as ``{section: {key: value}}``; rows sealed with another key are skipped."""
        return _unseal_rows(self._box, await self._repo.rows())

    async def save(self, section: str, values: Mapping[str, Any]) -> None:
        """Store (replace) the given keys of ``section``; values must be JSON-able."""
        await self._repo.save(section, {key: _seal(self._box, value) for key, value in values.items()}, time.time())


def _unseal_rows(box: SecretBox, rows: list[tuple[str, str, bytes]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, key, blob in rows:
        try:
            out.setdefault(section, {})[key] = _open(box, blob)
        except ValueError:
            log.error("stored setting [%s] %s cannot be decrypted with the configured secrets key; ignored", section, key)
    return out


def read_stored(settings: Settings) -> dict[str, dict[str, Any]]:
    """The stored changes of the settings' database (``[storage] url``), read synchronously before start-up.

    Returns ``{}`` when there is no database yet or it predates the table.
    """
    rows = read_overrides(database_url(settings.storage))
    if not rows:
        return {}
    configured = settings.storage.secret_key.get_secret_value() if settings.storage.secret_key else None
    return _unseal_rows(SecretBox(load_or_create_key(settings.storage.data_dir, configured)), rows)


def merge_overrides(settings: Settings, stored: Mapping[str, Mapping[str, Any]]) -> Settings:
    """``settings`` with ``stored`` laid over it; invalid keys are skipped one by one (logged, without values)."""
    for section, values in stored.items():
        for key, value in values.items():
            try:
                if section in CORE_SECTIONS:
                    settings = settings.with_overrides(**{section: {key: value}})
                else:
                    settings = settings.with_plugin_sections({section: {key: value}})
            except SettingsError as exc:
                log.error("stored setting [%s] %s is no longer valid and is ignored: %s", section, key, exc)
    return settings


def apply_stored_settings(settings: Settings) -> Settings:
    """The settings in force at start-up: the file's, with the admin site's stored changes over them.

    Called once, by :func:`flow2api.startup.prepare`, before the providers are built; the result's
    ``source`` ends in ``" + admin site"`` when something was applied (errors name where a value came from).
    """
    stored = read_stored(settings)
    if not stored:
        return settings
    merged = merge_overrides(settings, stored)
    count = sum(len(v) for v in stored.values())
    log.info("applied %d setting(s) changed in the admin site: %s", count, ", ".join(f"[{s}]" for s in sorted(stored)))
    return merged.model_copy(update={"source": merged.source + ADMIN_SOURCE})
