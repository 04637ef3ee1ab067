"""Stored settings changes: sealed at rest, laid over the file at start-up, bad rows skipped (not fatal)."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.fernet import Fernet

from flow2api.admin.overrides import SettingsOverrides, apply_stored_settings
from flow2api.storage import Database, SecretBox, load_or_create_key
from flow2api.testing import make_settings


async def store(data_dir: Path, section: str, values: dict, key: bytes | None = None) -> None:
    db = Database(data_dir / "flow2api.db")
    await db.open()
    try:
        await SettingsOverrides(db, SecretBox(key or load_or_create_key(data_dir))).save(section, values)
    finally:
        await db.close()


async def test_stored_values_win_and_bad_ones_are_skipped(tmp_path: Path, caplog) -> None:
    settings = make_settings(tmp_path)
    data_dir = settings.storage.data_dir
    assert apply_stored_settings(settings) is settings  # no database yet: nothing to do
    await store(data_dir, "generation", {"video_timeout": 99.0, "image_timeout": -1})
    await store(data_dir, "captcha", {"solver_max_polls": 5})
    await store(data_dir, "call_logic", {"call_mode": "random"}, key=Fernet.generate_key())  # sealed with another key
    caplog.set_level(logging.INFO)
    merged = apply_stored_settings(settings)
    assert merged.generation.video_timeout == 99.0
    assert merged.generation.image_timeout == settings.generation.image_timeout
    assert merged.plugin_sections["captcha"]["solver_max_polls"] == 5
    assert merged.call_logic.call_mode == settings.call_logic.call_mode
    assert merged.source.endswith(" + admin site")
    logged = caplog.text
    assert "[generation] image_timeout is no longer valid" in logged
    assert "[call_logic] call_mode cannot be decrypted" in logged
    raw = b"".join(p.read_bytes() for p in data_dir.glob("flow2api.db*"))
    assert b"video_timeout" in raw and b"99.0" not in raw  # keys are visible, values sealed
