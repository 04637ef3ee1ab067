"""Background account maintenance: credentials refreshed before they expire, credits re-read periodically.

Runs as one task per app (started in the ``account_pool`` cleanup context);
every ``[admin] maintenance_interval`` seconds it looks at every enabled account
of an installed family, at most ``maintenance_concurrency`` at once:

* **refresh** (``AccountFamily.refresh``) when the family says the credential is
  due (``refresh_due``) or the credits are older than ``[admin]
  credits_refresh_interval``;
* else **check** (``AccountFamily.check``) when the family's optional
  ``check_due`` says its credits/tier are stale (e.g. VideoFX's ``[flow]
  check_interval``); families without the hook are never due.

A failure of either is handled the same way: a rejected credential disables
the account ("session expired"), any other error is kept as its ``last_error``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from flow2api.errors import CredentialRejectedError, Flow2APIError
from flow2api.pool.pool import AccountPool

log = logging.getLogger(__name__)


def due_accounts(pool: AccountPool, now: float) -> tuple[list[int], list[int]]:
    """``(to refresh, to check)``: ids of the enabled accounts whose family says so at ``now`` (Unix s); no I/O."""
    admin = pool.settings.admin
    refresh: list[int] = []
    check: list[int] = []
    for record in pool.records():
        family = pool.families.get(record.family)
        if not record.enabled or family is None:
            continue
        view = pool.view(record.id)
        checked = pool.last_checked.get(record.id, 0.0)
        stale = admin.credits_refresh_interval and now - checked >= admin.credits_refresh_interval
        if stale or family.refresh_due(view, now):
            refresh.append(record.id)
        elif family.check_due(view, now):
            check.append(record.id)
    return refresh, check


async def maintain_once(pool: AccountPool, now: float | None = None) -> int:
    """One maintenance round; returns how many accounts were refreshed or checked successfully.

    A failure is recorded on the account (a rejected credential disables it
    with "session expired"); it never stops the others.
    """
    refresh, check = due_accounts(pool, time.time() if now is None else now)
    gate = asyncio.Semaphore(pool.settings.admin.maintenance_concurrency)

    async def one(account_id: int, action: Callable[[int], Awaitable[None]], what: str) -> bool:
        async with gate:
            try:
                await action(account_id)
            except Flow2APIError as exc:
                # The pool already disabled an account whose credential was rejected (with its reason).
                if not isinstance(exc, CredentialRejectedError) and account_id in pool.account_ids():
                    await pool.update(account_id, last_error=exc.message)
                log.warning("background %s of account %d failed: %s", what, account_id, exc.code)
                return False
            return True

    done = await asyncio.gather(*(one(i, pool.refresh_now, "refresh") for i in refresh),
                                *(one(i, pool.check_now, "check") for i in check))
    return sum(done)


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
