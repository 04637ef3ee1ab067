"""What this instance knows of the shared slot counts and cool-downs, and the order it asks for slots in.

An acquire on Redis used to be two trips: a survey of every account's count and cool-down, then the hold.
Now it is one (:meth:`flow2api.coordination.Coordinator.take`), and the counts the strategy compares come
from the reply of the previous take — kept here, per account and kind, with the cool-downs it reported.
They may be a moment old; that only changes which account is tried first, never what is admitted: the
take checks the true count and cool-down itself, atomically, and moves on to the next account when the first
filled meanwhile.

The one thing decided without asking Redis is a refusal that cannot be wrong: an account whose leases *in
this process* already reach its limit is full whatever the others do (every lease here holds a slot there,
and a released one leaves Redis after it left this count), so it is not asked for; when that is every
candidate, the request waits for a release here without a trip.

And a release here with a request here waiting for that account hands the slot over as it is (the holder
token stays in Redis, renewed; :func:`may_hand_over`): no trip to give it back and none to take it again, and
the count every instance sees never changes, so nothing is admitted that was not already. Not when the
account's limit was lowered since the slot was taken (then it goes back to Redis, which applies the new
limit). Within an instance that is the arrival order a release here always gave; across instances a
freed slot was already as good as this instance's (its waiter was woken at once, other instances' waiters by
the release notice, a few ms later, or at their next ``slot_poll_interval`` look).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from flow2api.coordination import Hold, Survey
from flow2api.plugin import Kind
from flow2api.pool.candidates import slot_limit
from flow2api.pool.leases import Candidate
from flow2api.pool.strategies import STRATEGIES
from flow2api.storage.accounts import AccountRecord

if TYPE_CHECKING:  # the pool imports this module
    from flow2api.pool.pool import AccountPool


class SlotBook:
    """The last holder counts (account id, kind → live holders on every instance) and cool-downs (account id →
    end, Unix s) the coordinator reported; empty until the first take."""

    def __init__(self) -> None:
        self.counts: dict[tuple[int, Kind], int] = {}
        self.cooling: dict[int, float] = {}

    def learn(self, account_ids: Sequence[int], kind: Kind, survey: Survey) -> bool:
        """Keep what a take of ``account_ids`` saw; whether it found one of them cooling down that was not known
        to be (the candidates change: the caller looks again at once instead of waiting)."""
        now = time.time()
        news = False
        for account_id in account_ids:
            self.counts[(account_id, kind)] = survey.in_flight.get(account_id, 0)
            end = survey.cooling.get(account_id)
            if end is None:
                self.cooling.pop(account_id, None)
                continue
            news = news or (end > now and self.cooling.get(account_id, 0.0) <= now)
            self.cooling[account_id] = end
        return news

    def order(self, pool: AccountPool, candidates: Sequence[Candidate], kind: Kind) -> tuple[list[Candidate], list[int]]:
        """The candidates to ask for, in order — the strategy's choice among those believed free, then the rest
        least busy first — and each one's limit (``-1`` unlimited); without the accounts this process alone
        fills (empty: wait for a release here)."""
        distributed = pool.coordination.distributed
        estimated: list[tuple[Candidate, int]] = []
        for candidate in candidates:
            limit = slot_limit(pool.record(candidate.account_id), kind)
            if 0 <= limit <= candidate.in_flight:  # candidate.in_flight is this process's count
                continue
            seen = self.counts.get((candidate.account_id, kind), 0) if distributed else 0
            if seen > candidate.in_flight:  # the shared count as last seen, at least this process's
                candidate = replace(candidate, in_flight=seen)
            estimated.append((candidate, limit))
        free = [c for c, limit in estimated if limit < 0 or c.in_flight < limit]
        chosen = STRATEGIES[pool.settings.call_logic.call_mode](free, pool.strategy_state, kind) if free else None
        ordered = sorted(estimated, key=lambda pair: (pair[0] is not chosen, pair[0].in_flight))
        return [c for c, _ in ordered], [limit for _, limit in ordered]


def may_hand_over(record: AccountRecord | None, kind: Kind, hold: Hold) -> bool:
    """Whether a released ``kind`` ``hold`` of ``record``'s account may pass to a waiter as it is: the account is
    still known and its limit is not below the one the slot was taken under (``-1``: unlimited)."""
    if record is None:
        return False
    limit = slot_limit(record, kind)
    return limit < 0 or 0 <= hold.limit <= limit
