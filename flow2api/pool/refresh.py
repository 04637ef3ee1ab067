"""Credential refresh of pool accounts: one refresh per account at a time, in this process and across instances.

In this process, concurrent requests that find an account's credential due share one refresh task. Across
instances the refresh runs under the coordinator's refresh lock (:meth:`flow2api.coordination.Coordinator.refresh_lock`,
a Redis lock with ``[coordination] redis_url``): an instance that waited for the lock first re-reads the
account row, and when another instance stored new secrets meanwhile it adopts them instead of refreshing
again (VideoFX: one ST→AT exchange per account, not one per instance). A rejected credential disables the
account ("session expired").
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from flow2api.errors import CredentialRejectedError
from flow2api.pool.leases import AccountHandle

if TYPE_CHECKING:  # the pool imports this module
    from flow2api.pool.pool import AccountPool

log = logging.getLogger(__name__)

SESSION_EXPIRED = "session expired"


class Refresher:
    """The refresh state of one pool: tasks running, accounts whose next use must refresh first."""

    def __init__(self, pool: AccountPool) -> None:
        self._pool = pool
        self._running: dict[int, asyncio.Task[None]] = {}
        self.forced: set[int] = set()
        """Accounts to refresh before their next use whatever the family's ``refresh_due`` says."""

    async def ensure_fresh(self, account_id: int) -> None:
        """Refresh the credential if due (joining a refresh already running); a rejected one disables the account
        and is raised."""
        pool = self._pool
        family = pool.families[pool.record(account_id).family]
        if account_id not in self.forced and not family.refresh_due(pool.view(account_id), time.time()):
            return
        task = self._running.get(account_id)
        if task is None:
            task = asyncio.create_task(self._refresh(account_id))
            self._running[account_id] = task
            task.add_done_callback(lambda _t: self._running.pop(account_id, None))
        try:
            await asyncio.shield(task)
        except CredentialRejectedError as exc:
            await pool.disable(account_id, SESSION_EXPIRED, exc.message)
            raise

    async def _refresh(self, account_id: int) -> None:
        pool = self._pool
        before = pool.record(account_id).secrets
        async with pool.coordination.refresh_lock(account_id):
            if pool.coordination.distributed and await self._refreshed_elsewhere(account_id, before):
                return
            family = pool.families[pool.record(account_id).family]
            await family.refresh(AccountHandle(pool, account_id), pool.session_for(account_id))
        self.forced.discard(account_id)
        log.info("account %d credentials refreshed", account_id)

    async def _refreshed_elsewhere(self, account_id: int, before: object) -> bool:
        """Whether the stored row carries other secrets than ``before`` (another instance refreshed while this
        one waited for the lock); the row is then adopted."""
        pool = self._pool
        stored = await pool.repo.get(account_id)
        if stored is None or stored.secrets == before:
            return False
        pool.adopt(stored)
        self.forced.discard(account_id)
        log.info("account %d credentials refreshed by another instance", account_id)
        return True
