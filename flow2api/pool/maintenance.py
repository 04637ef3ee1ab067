"""Background account maintenance: credentials refreshed before they expire, credits re-read periodically.

Runs as one task per app (started in the ``account_pool`` cleanup context);
every ``[admin] maintenance_interval`` seconds it refreshes the accounts whose
family says the credential is due, or whose credits are older than
``[admin] credits_refresh_interval``, at most ``maintenance_concurrency`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import time

from flow2api.errors import CredentialRejectedError, Flow2APIError
from flow2api.pool.pool import AccountPool

log = logging.getLogger(__name__)


async def maintain_once(pool: AccountPool, now: float | None = None) -> int:
    """One maintenance round; returns how many accounts were refreshed.

    A failure is recorded on the account (a rejected credential disables it
    with "session expired"); it never stops the others.
    """
    admin = pool.settings.admin
    now = time.time() if now is None else now
    due = []
    for record in pool.records():
        if not record.enabled or record.family not in pool.families:
            continue
        checked = pool.last_checked.get(record.id, 0.0)
        stale = admin.credits_refresh_interval and now - checked >= admin.credits_refresh_interval
        if stale or pool.families[record.family].refresh_due(pool.view(record.id), now):
            due.append(record.id)
    gate = asyncio.Semaphore(admin.maintenance_concurrency)

    async def one(account_id: int) -> bool:
        async with gate:
            try:
                await pool.refresh_now(account_id)
            except Flow2APIError as exc:
                if not isinstance(exc, CredentialRejectedError) and account_id in pool.account_ids():
                    await pool.update(account_id, last_error=exc.message)
                log.warning("background refresh of account %d failed: %s", account_id, exc.code)
                return False
            return True

    return sum(await asyncio.gather(*(one(i) for i in due)))


async def run_maintenance(pool: AccountPool) -> None:
    """Call :func:`maintain_once` every ``[admin] maintenance_interval`` seconds until cancelled."""
    for record in pool.records():
        pool.last_checked.setdefault(record.id, time.time())  # just loaded: credits are as fresh as the last run
    while True:
        await asyncio.sleep(pool.settings.admin.maintenance_interval)
        try:
            await maintain_once(pool)
        except Exception:  # a bug here must not end maintenance for good
            log.exception("account maintenance round failed")
