"""The one failover loop of flow2api (like LiteLLM's router, the only retry loop).

Every path that spends an account — each job the job engine
(:mod:`flow2api.jobs`) runs for chat, Gemini, each image of an Images API
fan-out, a background video job — runs its attempts through
:func:`failover_events`: lease an account that can serve the entry, run one
attempt, and when it fails with an account-specific, retryable error before it
committed (nothing reached the client, nothing upstream is running), mark the
account and try another one, up to ``max_retries`` more times. A rejected
credential first gets one retry on the same account (the pool refreshes it on
the next lease; a rejected refresh disables it). A transient failure (5xx,
connection error, timeout: ``UpstreamUnavailableError``; a reCAPTCHA solver
without a token: ``SolverUnavailableError``) says nothing against the account:
other accounts are tried first, then it may serve the next attempt again, so a
small pool keeps its retries (issue 8's upstream-faults drill: 3 accounts, one
cooling down after a 429, 30 % of upstream calls failing). The lease is held
while the attempt's events are consumed (a streamed response holds its account
to the end) and released in ``finally`` whatever happens, the consumer closing
the stream early included.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import TypeVar

from flow2api.catalog import CatalogEntry
from flow2api.errors import CredentialRejectedError, Flow2APIError, NoAccountAvailableError
from flow2api.plugin import Provider
from flow2api.pool.leases import Lease
from flow2api.pool.pool import AccountPool

log = logging.getLogger(__name__)

T = TypeVar("T")


def fails_over(exc: Flow2APIError, *, committed: bool) -> bool:
    """Whether ``exc`` moves the work to another account: account-specific, retryable, before commit."""
    return exc.account_fault and exc.retryable and not committed


async def failover_events(
    pool: AccountPool,
    entry: CatalogEntry,
    providers: Mapping[str, Provider],
    attempt: Callable[[Lease, int], AsyncIterator[T]],
    *,
    max_retries: int,
    wait: float,
    committed: Callable[[], bool],
    account_id: int | None = None,
) -> AsyncIterator[T]:
    """Yield the items of ``attempt(lease, number)`` (number counts from 1), failing over between attempts.

    ``committed()`` says whether the current attempt passed its point of no
    return (then its error is raised, never retried). ``wait`` is the slot wait
    in seconds; ``account_id`` pins the work to one account. Raises
    ``NoAccountAvailableError`` (503) when no account could be leased at all,
    else the last attempt's error. The attempt's outcome is recorded against
    its account (success, or the error); a consumer that stops early records
    neither.
    """
    tried: set[int] = set()  # not to be used again by this work
    again: set[int] = set()  # failed transiently: usable again once every other account was tried
    refreshed: set[int] = set()
    last_error: Flow2APIError | None = None
    for number in range(1, max_retries + 2):
        try:
            try:
                lease = await pool.acquire(
                    entry, providers, exclude=frozenset(tried | again), timeout=wait, account_id=account_id)
            except NoAccountAvailableError:
                if not again:
                    raise
                again.clear()
                lease = await pool.acquire(entry, providers, exclude=frozenset(tried), timeout=wait, account_id=account_id)
        except NoAccountAvailableError:
            if last_error is not None:
                raise last_error from None
            raise
        try:
            async with aclosing(attempt(lease, number)) as items:
                async for item in items:
                    yield item
        except Flow2APIError as exc:
            await pool.record_failure(lease, exc)
            if number <= max_retries and fails_over(exc, committed=committed()):
                if isinstance(exc, CredentialRejectedError) and lease.account_id not in refreshed:
                    refreshed.add(lease.account_id)
                elif exc.transient:
                    again.add(lease.account_id)
                else:
                    tried.add(lease.account_id)
                log.warning("attempt %d on account %d failed (%s); retrying", number, lease.account_id, exc.code)
                last_error = exc
                continue
            raise
        finally:
            pool.release(lease)
        await pool.record_success(lease)
        return
    assert last_error is not None
    raise last_error

