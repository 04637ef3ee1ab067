"""Stage 6, account lease: one account per attempt, held for the whole response, with failover.

The handler runs inside :func:`flow2api.pool.failover.run_with_failover`:
an attempt that fails with an account-specific, retryable error before the
handler committed (before any provider event reached it, so nothing was sent
to the client) runs again on another account, up to ``[generation]
max_retries`` more times. After commit, failures are the handler's to report
in its stream (``state.failure``). The lease is released in ``finally``, also
when the client disconnects.
"""

from __future__ import annotations

from aiohttp import web

from flow2api.keys import POOL, PROVIDERS, SETTINGS, STATE
from flow2api.pipeline.route import generation_source
from flow2api.pool.failover import run_with_failover
from flow2api.pool.leases import Lease


@web.middleware
async def lease_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Lease an account for ``state.entry`` and run the handler; 403 when the key may not use the model."""
    if generation_source(request) is None:
        return await handler(request)
    state = request[STATE]
    assert state.entry is not None
    if state.caller is not None:
        state.caller.check_model(state.entry.id)
    generation = request.config_dict[SETTINGS].current.generation
    wait = generation.image_slot_wait_timeout if state.entry.kind.value == "image" else generation.video_slot_wait_timeout

    async def attempt(lease: Lease, number: int) -> web.StreamResponse:
        state.lease, state.attempts, state.account_id = lease, number, lease.account_id
        try:
            return await handler(request)
        finally:
            state.lease = None

    return await run_with_failover(
        request.config_dict[POOL], state.entry, request.config_dict[PROVIDERS], attempt,
        max_retries=generation.max_retries, wait=wait,
        committed=lambda: state.committed, reported_failure=lambda: state.failure,
    )
