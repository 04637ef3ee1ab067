"""The middleware pipeline, in order. Each stage is one module with one ``<stage>_middleware``.

Root app (every path, admin included)::

    context  — request id, access log line, timing; first, so even error responses carry the id
    errors   — any Flow2APIError (or stray exception) → the surface's error body; after context,
               so the access line records the final status

API sub-apps (``/v1``, ``/v1beta``)::

    auth        — API key → state.caller; before everything that spends resources
    rate_limit  — per-key / global limits; needs state.caller
    route       — body parsed once, model → catalog entry; generation handlers only
    selection   — the entry's account-selection policy (candidates, slot wait, retries) and the
                  caller's model permission, attached without leasing; needs the entry
    proxy       — the session chooser (account proxy, else global, else direct) the job engine
                  calls with each attempt's lease; after selection, which marks generating requests

No stage leases an account: the job engine (flow2api.jobs) does, once per attempt, through the
selection and the session chooser, so failover never runs a handler twice.
"""

from flow2api.pipeline.auth import auth_middleware
from flow2api.pipeline.context import context_middleware
from flow2api.pipeline.errors import errors_middleware
from flow2api.pipeline.proxy import proxy_middleware
from flow2api.pipeline.rate_limit import rate_limit_middleware
from flow2api.pipeline.selection import selection_middleware
from flow2api.pipeline.route import generation, route_middleware

ROOT_MIDDLEWARES = (context_middleware, errors_middleware)
API_MIDDLEWARES = (auth_middleware, rate_limit_middleware, route_middleware, selection_middleware, proxy_middleware)

__all__ = ["API_MIDDLEWARES", "ROOT_MIDDLEWARES", "generation"]
