"""Stage 6, account lease: one account per attempt, held for the whole response; failover.

This is the only retry loop of flow2api (like LiteLLM's router): when an
attempt fails with an account-specific, retryable error before the handler
committed (before any provider event reached it, so nothing was sent to the
client), the account is marked and the request runs again on another account,
up to ``[generation] max_retries`` more times. A rejected credential first
gets one retry on the same account after a refresh. After commit, failures are the
handler's to report in its stream. The lease is released in ``finally``, also
when the client disconnects.
"""

from __future__ import annotations

import logging

from aiohttp import web

from flow2api.errors import CredentialRejectedError, Flow2APIError, NoAccountAvailableError, PermissionDeniedError
from flow2api.keys import POOL, PROVIDERS, SETTINGS, STATE
from flow2api.pipeline.route import generation_source

log = logging.getLogger(__name__)


@web.middleware
async def lease_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Lease an account for ``state.entry`` and run the handler, failing over on account faults."""
    if generation_source(request) is None:
        return await handler(request)
    state = request[STATE]
    assert state.entry is not None
    allowed = state.caller.models if state.caller else frozenset()
    if allowed and state.entry.id not in allowed:
        raise PermissionDeniedError(f"This API key may not use the model '{state.entry.id}'.", param="model")
    pool = request.config_dict[POOL]
    providers = request.config_dict[PROVIDERS]
    generation = request.config_dict[SETTINGS].current.generation
    wait = generation.image_slot_wait_timeout if state.entry.kind.value == "image" else generation.video_slot_wait_timeout
    tried: set[int] = set()
    refreshed: set[int] = set()
    last_error: Flow2APIError | None = None
    for attempt in range(1, generation.max_retries + 2):
        try:
            lease = await pool.acquire(state.entry, providers, exclude=frozenset(tried), timeout=wait)
        except NoAccountAvailableError:
            if last_error is not None:
                raise last_error from None
            raise
        state.lease, state.attempts, state.account_id = lease, attempt, lease.account_id
        try:
            response = await handler(request)
        except Flow2APIError as exc:
            await pool.record_failure(lease, exc)
            if exc.account_fault and exc.retryable and not state.committed:
                if isinstance(exc, CredentialRejectedError) and lease.account_id not in refreshed:
                    # An AT can die before its stated expiry: the pool refreshes it on the next lease, so this
                    # account gets one more try; a rejected refresh disables it and the loop moves on.
                    refreshed.add(lease.account_id)
                else:
                    tried.add(lease.account_id)
                log.warning("attempt %d on account %d failed (%s); retrying", attempt, lease.account_id, exc.code)
                last_error = exc
                continue
            raise
        finally:
            pool.release(lease)
            state.lease = None
        if state.failure is not None:
            await pool.record_failure(lease, state.failure)
        else:
            await pool.record_success(lease)
        return response
    assert last_error is not None
    raise last_error
