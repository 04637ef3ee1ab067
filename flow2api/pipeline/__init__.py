"""The middleware pipeline, in order. Each stage is one module with one ``<stage>_middleware``.

Root app (every path, admin included)::

    context  — request id, access log line, timing; first, so even error responses carry the id
    errors   — any Flow2APIError (or stray exception) → the surface's error body; after context,
               so the access line records the final status

API sub-apps (``/v1``, ``/v1beta``)::

    auth        — API key → state.caller; before everything that spends resources
    rate_limit  — per-key / global limits; needs state.caller
    route       — body parsed once, model → catalog entry; generation handlers only
    lease       — account for the entry, held for the whole response; the only retry loop
                  (failover to another account); needs the entry
    proxy       — HTTP session for the leased account's proxy; inside the lease loop, so each
                  attempt gets its account's proxy
"""

from flow2api.pipeline.auth import auth_middleware
from flow2api.pipeline.context import context_middleware
from flow2api.pipeline.errors import errors_middleware
from flow2api.pipeline.lease import lease_middleware
from flow2api.pipeline.proxy import proxy_middleware
from flow2api.pipeline.rate_limit import rate_limit_middleware
from flow2api.pipeline.route import generation, route_middleware

ROOT_MIDDLEWARES = (context_middleware, errors_middleware)
API_MIDDLEWARES = (auth_middleware, rate_limit_middleware, route_middleware, lease_middleware, proxy_middleware)

__all__ = ["API_MIDDLEWARES", "ROOT_MIDDLEWARES", "generation"]
