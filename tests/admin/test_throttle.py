"""The failed-login throttle: a window per address, cleared by a success (clock injected)."""

from __future__ import annotations

from flow2api.admin.throttle import LoginThrottle


def test_limit_window_and_reset() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
        now[0] += 1
    assert throttle.retry_after("10.0.0.1") == 57  # the oldest failure leaves the window at 1060
    assert throttle.retry_after("10.0.0.2") == 0  # per address
    now[0] = 1060.5
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    throttle.succeeded("10.0.0.1")
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0
