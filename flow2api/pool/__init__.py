"""The account pool: which account serves a request, and how accounts stay healthy.

:class:`AccountPool` keeps every account in memory (mirrored to the
``accounts`` table), counts in-flight jobs per account and kind, picks an
account with the configured strategy, refreshes credentials before use
(coalescing concurrent refreshes), and applies the health policy (error
threshold, 429 cool-down, expired session).
"""

from typing import Final

from aiohttp import web

from flow2api.pool.leases import AccountHandle, Candidate, Lease
from flow2api.pool.pool import AccountPool

__all__ = ["AccountHandle", "AccountPool", "Candidate", "Lease", "POOL"]

POOL: Final = web.AppKey("account_pool", AccountPool)
