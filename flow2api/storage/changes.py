"""Changes made by another process take effect within a second: one revision per scope of live state.

The server keeps API keys, accounts and the admin site's settings in memory
(the hot path reads no table). Every repository write that changes one of them
also bumps that scope's row of the ``changes`` table, in the same batch of the
group commit — whoever writes: this server, the CLI (``flow2api keys revoke``,
``flow2api accounts disable``), or another instance. :meth:`ChangeFeed.watch`
reads the few rows every ``interval`` seconds (one indexed ``SELECT`` of at
most three rows) and calls the scope's reload when its revision moved.

A server does not reload for its own writes: :meth:`ChangeFeed.bump` returns
the new revision, and when it is exactly one past the last one seen, nothing
else happened in between and the in-memory state is already current. A change
counter (rather than SQLite's ``PRAGMA data_version``) works the same on every
database the storage runs on, and says *which* state changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select

from flow2api.storage.schema import changes, upsert

if TYPE_CHECKING:
    from flow2api.storage.database import Database

log = logging.getLogger(__name__)

API_KEYS, ACCOUNTS, SETTINGS = "api_keys", "accounts", "settings"
SCOPES = (API_KEYS, ACCOUNTS, SETTINGS)

_REVISIONS = select(changes.c.scope, changes.c.revision)

Reload = Callable[[], Awaitable[object]]
T = TypeVar("T")


class ChangeFeed:
    """The ``changes`` table of one database: bump a scope after a change, watch for changes by others.

    ``seen`` maps each scope to the revision whose state this process holds in memory.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self.seen: dict[str, int] = {}
        insert = upsert(db.dialect, changes).values(revision=1)
        self._bump = insert.on_conflict_do_update(
            index_elements=[changes.c.scope], set_={"revision": changes.c.revision + 1},
        ).returning(changes.c.revision)

    async def bump(self, scope: str) -> None:
        """Count one change of ``scope`` (queue it beside the change itself, in the same batch); raises the
        database's error."""
        (row,) = await self._db.writes.write_one(self._bump, {"scope": scope})
        revision = row[0]
        if self.seen.get(scope, 0) == revision - 1:  # nobody else wrote since we last looked: no reload needed
            self.seen[scope] = revision

    async def along(self, scope: str, write: Awaitable[T]) -> T:
        """Await the repository's ``write`` and bump ``scope`` in the same batch of the group commit (the write
        is queued first); returns the write's result and raises its error."""
        result, _ = await asyncio.gather(write, self.bump(scope))
        return result

    async def revisions(self) -> dict[str, int]:
        """The stored revision of every scope changed at least once (others are absent, i.e. 0)."""
        return {row[0]: row[1] for row in await self._db.fetch_all(_REVISIONS)}

    async def prime(self) -> None:
        """Take the stored revisions as seen: call it before loading the state, so no change falls between."""
        stored = await self.revisions()
        self.seen = {scope: stored.get(scope, 0) for scope in SCOPES}

    async def poll(self, reloads: Mapping[str, Reload]) -> list[str]:
        """One look: call the reload of every scope whose revision moved; returns those scopes.

        A reload that fails is logged and retried at the next look (its scope stays unseen).
        """
        moved = []
        for scope, revision in (await self.revisions()).items():
            if scope not in reloads or self.seen.get(scope, 0) == revision:
                continue
            try:
                await reloads[scope]()
            except Exception:  # noqa: BLE001 - the watcher must go on; the next look tries again
                log.exception("reloading %s after a change by another process failed", scope)
                continue
            self.seen[scope] = max(revision, self.seen.get(scope, 0))
            moved.append(scope)
        if moved:
            log.info("reloaded after a change by another process: %s", ", ".join(moved))
        return moved

    async def watch(self, reloads: Mapping[str, Reload], interval: float) -> None:
        """:meth:`poll` every ``interval`` seconds until cancelled; a failing look is logged and retried."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.poll(reloads)
            except Exception:  # noqa: BLE001 - a busy or briefly unreachable database must not end the watch
                log.exception("looking for changes by another process failed")
