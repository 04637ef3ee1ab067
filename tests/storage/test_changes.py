"""Changes written by another process take effect in a running server within 1 s (issue 17, item 3).

The server is the real app on loopback; the CLI runs as a real subprocess on the same database, as an operator
runs it. Each deadline is measured from the moment the CLI has exited (its answer is the promise). Every test
runs on SQLite and on PostgreSQL (``database_url``, tests/storage/conftest.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from flow2api.admin.overrides import SettingsOverrides
from flow2api.apikeys import API_KEYS
from flow2api.settings import SETTINGS
from flow2api.storage import DATABASE, Database, SecretBox, changes, load_or_create_key
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FakeWorld, run_cli, until

DEADLINE = 1.0


async def _cli(tmp_path: Path, url: str, *args: str) -> str:
    code, out, err = await run_cli(*args, "--data-dir", str(tmp_path / "data"), cwd=tmp_path, clean=True,
                                   env={"FLOW2API_STORAGE__URL": url})
    assert code == 0, err
    return out


async def _models_status(url: str, key: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/v1/models",
                                                         headers={"Authorization": f"Bearer {key}"}) as response:
        return response.status


async def _image_status(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
        f"{url}/v1/images/generations", json={"model": FAKE_IMAGE_MODEL, "prompt": "a red square"},
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as response:
        await response.read()
        return response.status


async def _within(deadline: float, predicate) -> float:  # noqa: ANN001 - an async predicate
    """Seconds until ``predicate`` held (AssertionError after ``deadline``)."""
    started = time.monotonic()
    await until(predicate, deadline, interval=0.02)
    return time.monotonic() - started


async def test_a_key_created_then_revoked_by_the_cli_takes_effect_within_a_second(
    fake: FakeWorld, tmp_path: Path, database_url: str,
) -> None:
    gw = await fake.start(storage={"url": database_url})
    key = (await _cli(tmp_path, database_url, "keys", "create", "--name", "from the cli")).strip().splitlines()[-1]
    await _within(DEADLINE, lambda: _is(_models_status(gw.url, key), 200))

    (record,) = await gw.app[API_KEYS].list()
    out = await _cli(tmp_path, database_url, "keys", "revoke", str(record.id))
    assert out.strip() == f"key {record.id} revoked"
    await _within(DEADLINE, lambda: _is(_models_status(gw.url, key), 401))


async def test_an_account_disabled_by_the_cli_stops_serving_within_a_second(
    fake: FakeWorld, tmp_path: Path, database_url: str,
) -> None:
    gw = await fake.start(accounts=1, storage={"url": database_url})
    assert await _image_status(gw.url) == 200
    (account,) = gw.pool.records()
    await _cli(tmp_path, database_url, "accounts", "disable", str(account.id))
    await _within(DEADLINE, lambda: _is(_image_status(gw.url), 503))
    assert gw.pool.records()[0].ban_reason == "disabled by operator"

    await _cli(tmp_path, database_url, "accounts", "enable", str(account.id))
    await _within(DEADLINE, lambda: _is(_image_status(gw.url), 200))


async def test_a_setting_stored_by_another_process_takes_effect_within_a_second(
    fake: FakeWorld, tmp_path: Path, database_url: str,
) -> None:
    gw = await fake.start(storage={"url": database_url})
    assert gw.app[SETTINGS].current.generation.max_retries != 4
    other = Database(database_url)  # another connection, as another instance's admin site has
    await other.open()
    try:
        box = SecretBox(load_or_create_key(tmp_path / "data"))
        await SettingsOverrides(other, box).save("generation", {"max_retries": 4})
    finally:
        await other.close()
    await _within(DEADLINE, lambda: _is_now(gw.app[SETTINGS].current.generation.max_retries == 4))


async def test_the_servers_own_writes_cause_no_reload(fake: FakeWorld, database_url: str) -> None:
    gw = await fake.start(accounts=1, storage={"url": database_url})
    feed = gw.app[DATABASE].changes
    reloaded: list[str] = []

    async def note(scope: str) -> None:
        reloaded.append(scope)

    reloads = {scope: (lambda scope=scope: note(scope)) for scope in changes.SCOPES}
    await feed.poll(reloads)
    reloaded.clear()
    (account,) = gw.pool.records()
    await gw.pool.update(account.id, remark="edited here")
    await gw.app[API_KEYS].create("made here")
    assert await feed.poll(reloads) == [] and reloaded == []


async def _is_now(value: bool) -> bool:
    return value


async def _is(status, expected: int) -> bool:  # noqa: ANN001 - an awaitable status
    return await status == expected

