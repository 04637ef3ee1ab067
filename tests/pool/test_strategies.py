"""Balancing strategies (``[call_logic] call_mode``) on plain candidates."""

from __future__ import annotations

import collections
import random
from dataclasses import dataclass

from flow2api.pool.strategies import STRATEGIES, StrategyState


@dataclass(frozen=True)
class C:
    account_id: int
    in_flight: int = 0
    credits: int | None = None


def test_round_robin_cycles_by_account_id_per_kind() -> None:
    state = StrategyState()
    candidates = [C(1), C(2), C(3)]
    picks = [STRATEGIES["round_robin"](candidates, state, "image").account_id for _ in range(7)]
    assert picks == [1, 2, 3, 1, 2, 3, 1]
    assert STRATEGIES["polling"](candidates, state, "video").account_id == 1  # kinds rotate separately


def test_least_busy_prefers_the_idle_and_shares_ties() -> None:
    state = StrategyState(rng=random.Random(7))
    assert STRATEGIES["least_busy"]([C(1, 3), C(2, 0), C(3, 1)], state, "image").account_id == 2
    picks = collections.Counter(STRATEGIES["default"]([C(1), C(2)], state, "image").account_id for _ in range(200))
    assert set(picks) == {1, 2} and min(picks.values()) > 60


def test_credits_prefers_the_richest_then_the_least_busy() -> None:
    state = StrategyState()
    assert STRATEGIES["credits"]([C(1, 0, 10), C(2, 5, 900), C(3, 0, None)], state, "image").account_id == 2
    assert STRATEGIES["credits"]([C(1, 2, 50), C(2, 0, 50)], state, "image").account_id == 2


def test_random_uses_every_candidate() -> None:
    state = StrategyState(rng=random.Random(1))
    picks = {STRATEGIES["random"]([C(1), C(2), C(3)], state, "image").account_id for _ in range(100)}
    assert picks == {1, 2, 3}
