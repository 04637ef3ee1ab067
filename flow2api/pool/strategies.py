"""Balancing strategies (``[call_logic] call_mode``): pick one of several free candidates.

Each strategy is a function ``(candidates, state) -> candidate``; candidates
arrive in account-id order and all have a free slot.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from flow2api.plugin import Kind


class _Candidate(Protocol):
    @property
    def account_id(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def credits(self) -> int | None: ...


@dataclass
class StrategyState:
    """Mutable memory of the strategies: the last account id served per kind (round robin)."""

    last_served: dict[Kind, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)


def pick_random(candidates: Sequence[_Candidate], state: StrategyState, kind: Kind) -> _Candidate:
    """Uniformly at random (the original project's OLD behaviour)."""
    return state.rng.choice(candidates)


def pick_round_robin(candidates: Sequence[_Candidate], state: StrategyState, kind: Kind) -> _Candidate:
    """Strictly by account id after the one served last for this kind (original ``polling``)."""
    last = state.last_served.get(kind, -1)
    chosen = next((c for c in candidates if c.account_id > last), candidates[0])
    state.last_served[kind] = chosen.account_id
    return chosen


def pick_least_busy(candidates: Sequence[_Candidate], state: StrategyState, kind: Kind) -> _Candidate:
    """Fewest jobs in flight; ties broken at random so equal accounts share the load."""
    fewest = min(c.in_flight for c in candidates)
    return state.rng.choice([c for c in candidates if c.in_flight == fewest])


def pick_most_credits(candidates: Sequence[_Candidate], state: StrategyState, kind: Kind) -> _Candidate:
    """Most credits left (unknown counts as zero), then least busy."""
    return max(candidates, key=lambda c: (c.credits or 0, -c.in_flight))


STRATEGIES: dict[str, Callable[[Sequence[_Candidate], StrategyState, str], _Candidate]] = {
    "default": pick_least_busy,
    "least_busy": pick_least_busy,
    "random": pick_random,
    "round_robin": pick_round_robin,
    "polling": pick_round_robin,
    "credits": pick_most_credits,
}
