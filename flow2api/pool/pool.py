"""The account pool: accounts in memory (mirrored to storage), leasing, credential refresh, health.

Slots are counted per account and kind (``image_concurrency`` / ``video_concurrency``, ``-1`` = unlimited)
by the app's coordinator (:mod:`flow2api.coordination`: this process, or every instance on one Redis), which
also shares cool-downs and the refresh lock. When every account that could serve a request is busy, the
request waits in a FIFO queue (:mod:`.leases`) up to the slot-wait timeout, then gets 503; with Redis the
waiters are woken by another instance's release notice (:mod:`flow2api.coordination.releases`), and the
head of the queue also looks every ``[coordination] slot_poll_interval`` s for a slot another instance freed
(the fallback for a lost notice or a dead instance's expired holder; not when this process's own leases
fill every candidate: :mod:`.slots`). One coordinator call per look.
What a failure does to an account is decided by :func:`flow2api.pool.health.judge` and applied here."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import aiohttp

from flow2api.catalog import CatalogEntry
from flow2api.coordination import Coordinator
from flow2api.coordination.local import InProcessCoordinator
from flow2api.errors import (
    CoordinationUnavailableError,
    CredentialRejectedError,
    Flow2APIError,
    InvalidRequestError,
    NoAccountAvailableError,
)
from flow2api.logs import register_secrets
from flow2api.plugin import AccountFamily, AccountUpdate, AccountView, Kind, Provider
from flow2api.pool.health import judge
from flow2api.pool.leases import AccountHandle, Lease, SlotWaiters
from flow2api.pool.leasing import Leasing
from flow2api.pool.refresh import SESSION_EXPIRED, Refresher
from flow2api.pool.slots import SlotBook
from flow2api.pool.strategies import StrategyState
from flow2api.proxies import HttpSessions
from flow2api.settings import Settings, SettingsHolder
from flow2api.storage.accounts import AccountRecord, AccountRepository

log = logging.getLogger(__name__)


class AccountPool(Leasing):
    """All accounts of all families, their slots and their health.

    ``families`` maps family names to the plugins' :class:`AccountFamily`
    objects; ``http`` gives the proxy-routed client sessions used for refreshes;
    ``coordination`` counts slots and shares cool-downs (default: this process only).
    Call :meth:`load` once before use.
    """

    def __init__(
        self,
        repo: AccountRepository,
        *,
        settings: SettingsHolder,
        families: Mapping[str, AccountFamily],
        http: HttpSessions,
        coordination: Coordinator | None = None,
    ) -> None:
        self.repo = repo
        self._settings = settings
        self.families = families
        self.http = http
        self._records: dict[int, AccountRecord] = {}
        self._projects: dict[int, list[str]] = defaultdict(list)
        self._in_flight: dict[tuple[int, Kind], int] = defaultdict(int)
        self._waiters = SlotWaiters(lost=lambda hold: self.coordination.release(hold, self._waiters.wake_all))
        self._tickets = itertools.count()
        self.coordination: Coordinator = coordination if coordination is not None else InProcessCoordinator()
        # a slot freed by another instance; every waiter looks again when notices may have been lost
        self.coordination.on_release(self._waiters.wake, self._waiters.wake_all)
        self.refresher = Refresher(self)
        self.last_checked: dict[int, float] = {}
        self.proxy_failures: dict[str, int] = {}  # redacted proxy URL → connection failures since start
        self.strategy_state = StrategyState()
        self._book = SlotBook()  # the shared counts and cool-downs as the coordinator last reported them

    @property
    def settings(self) -> Settings:
        """The settings in force now (runtime changes included)."""
        return self._settings.current

    async def load(self) -> None:
        """Read every account and its projects from storage."""
        for record in await self.repo.list():
            self._remember(record)
            self._projects[record.id] = await self.repo.projects(record.id)
        log.info("account pool loaded: %d accounts", len(self._records))

    async def reload(self) -> None:
        """Take up what another process changed (CLI, another instance): re-read every account and its projects.

        The stored row wins, except for the use counters, which this process writes behind
        (``write_usage_later``) and so may hold newer; accounts no longer stored leave the pool
        (their leases finish). Waiting requests are woken: an enabled account may serve them now.
        """
        stored = {record.id: record for record in await self.repo.list()}
        for account_id in set(self._records) - set(stored):
            del self._records[account_id]
        for account_id, record in stored.items():
            self.adopt(record)
            self._projects[account_id] = await self.repo.projects(account_id)
        self._waiters.wake_all()

    def adopt(self, record: AccountRecord) -> None:
        """Take ``record`` as read from storage, keeping this process's use counters when they are newer."""
        held = self._records.get(record.id)
        if held is not None and (held.use_count, held.last_used_at or 0) > (record.use_count, record.last_used_at or 0):
            record = replace(record, use_count=held.use_count, last_used_at=held.last_used_at)
        self._remember(record)

    def _remember(self, record: AccountRecord) -> None:
        """Keep ``record`` as the account's current state; its secrets join the log redactor."""
        self._records[record.id] = record
        register_secrets(*record.secrets.values())

    # -- reading ---------------------------------------------------------------------------------------------

    def record(self, account_id: int) -> AccountRecord:
        """One account's record (a shared object: do not mutate); raises ``KeyError`` if unknown."""
        return self._records[account_id]

    def records(self) -> list[AccountRecord]:
        """Every account record, by id (shared objects: do not mutate)."""
        return [self._records[i] for i in sorted(self._records)]

    def view(self, account_id: int) -> AccountView:
        """The plugin-facing snapshot of one account; raises ``KeyError`` if unknown."""
        r = self._records[account_id]
        return AccountView(
            id=r.id, family=r.family, email=r.email, secrets=dict(r.secrets), state=dict(r.state),
            tier=r.tier, credits=r.credits, proxy_url=r.proxy_url, projects=tuple(self._projects[r.id]),
        )

    def describe(self, account_id: int) -> dict[str, Any]:
        """Live, non-secret facts the account's family reports through its ``describe_state`` hook (e.g. whether
        a browser executor is connected); ``{}`` when the family is not installed."""
        family = self.families.get(self._records[account_id].family)
        return dict(family.describe_state(self.view(account_id))) if family is not None else {}

    def in_flight(self, account_id: int, kind: Kind) -> int:
        """Jobs of ``kind`` the account is serving now from this process (other instances' are in the coordinator)."""
        return self._in_flight.get((account_id, Kind(kind)), 0)

    def counts(self) -> dict[str, int]:
        """Accounts by state for ``/health``: total, enabled, disabled, cooling_down, in-flight jobs."""
        now = time.time()
        enabled = [r for r in self._records.values() if r.enabled]
        return {
            "total": len(self._records),
            "enabled": len(enabled),
            "disabled": len(self._records) - len(enabled),
            "cooling_down": sum(1 for r in enabled if r.cooldown_until and r.cooldown_until > now),
            "in_flight": sum(self._in_flight.values()),
        }

    # -- changing --------------------------------------------------------------------------------------------

    async def add(self, family_name: str, credentials: Mapping[str, str], **fields: Any) -> AccountRecord:
        """Check a credential with its family, then store the account (upsert by family + e-mail).

        ``fields`` may set editable columns (``remark``, ``proxy_url``, concurrency …).
        Raises ``InvalidRequestError`` for an unknown family or missing field, and
        whatever the family raises (``CredentialRejectedError`` …) when upstream refuses.
        """
        family = self.families.get(family_name)
        if family is None:
            raise InvalidRequestError(f"unknown account family '{family_name}'", param="family")
        missing = [f for f in family.credential_fields if not credentials.get(f)]
        if missing:
            raise InvalidRequestError(f"missing credential field(s): {', '.join(missing)}", param=missing[0])
        session = self.http.get(fields.get("proxy_url") or self.settings.global_proxy_url)
        update = await family.add(credentials, session)
        if not update.email:
            raise InvalidRequestError("the account family did not report an e-mail for this credential")
        record = await self.repo.upsert(
            family_name, update.email, secrets=update.secrets or {}, state=update.state, name=update.name,
            tier=update.tier, credits=update.credits, **fields,
        )
        self._remember(record)
        self._projects[record.id] = await self.repo.projects(record.id)
        await self._add_projects(record.id, update.new_projects)
        self.refresher.forced.discard(record.id)
        self.last_checked[record.id] = time.time()  # add just read credentials, credits and tier
        log.info("account %d (%s) added or updated", record.id, family_name)
        self._waiters.wake_all()
        return record

    async def update(self, account_id: int, **changes: Any) -> AccountRecord:
        """Change editable fields of an account (enable, limits, proxy …); raises ``KeyError`` if unknown."""
        record = await self.repo.update(account_id, changes, current=self._records.get(account_id))
        self._remember(record)
        self._waiters.wake_all()
        return record

    async def delete(self, account_id: int) -> bool:
        """Remove an account; leases already held finish normally."""
        self._records.pop(account_id, None)
        return await self.repo.delete(account_id)

    async def apply_update(self, account_id: int, update: AccountUpdate) -> None:
        """Persist an :class:`AccountUpdate` from a plugin and refresh the in-memory record."""
        changes: dict[str, Any] = {}
        for name in ("email", "name", "tier", "credits"):
            value = getattr(update, name)
            if value is not None:
                changes[name] = value
        self._remember(await self.repo.update(
            account_id, changes, secrets=update.secrets, state=update.state, current=self._records.get(account_id),
        ))
        await self._add_projects(account_id, update.new_projects)
        for project_id in update.gone_projects or ():
            if project_id in self._projects[account_id]:
                self._projects[account_id].remove(project_id)
                await self.repo.remove_project(account_id, project_id)

    async def _add_projects(self, account_id: int, projects: Mapping[str, str] | None) -> None:
        for project_id, title in (projects or {}).items():
            if project_id not in self._projects[account_id]:
                await self.repo.add_project(account_id, project_id, title)
                self._projects[account_id].append(project_id)

    # -- leasing: acquire and release (flow2api.pool.leasing) -------------------------------------------------

    async def refresh_now(self, account_id: int) -> None:
        """Refresh an account's credential (and credits) now; raises what the family raises, ``KeyError`` if unknown."""
        if account_id not in self._records:
            raise KeyError(account_id)
        self.refresher.forced.add(account_id)
        await self.refresher.ensure_fresh(account_id)
        self.last_checked[account_id] = time.time()

    async def check_now(self, account_id: int) -> None:
        """Re-read an account's credits/tier through its family's ``check`` hook (background maintenance).

        Raises what the family raises; a rejected credential disables the account first, as a refresh does.
        """
        try:
            await self.families[self._records[account_id].family].check(AccountHandle(self, account_id),
                                                                        self.session_for(account_id))
        except CredentialRejectedError as exc:
            await self.disable(account_id, SESSION_EXPIRED, exc.message)
            raise
        self.last_checked[account_id] = time.time()

    def session_for(self, account_id: int) -> aiohttp.ClientSession:
        """The HTTP session of a family hook on this account: its own proxy, else ``[proxy]``'s global one."""
        return self.http.get(self._records[account_id].proxy_url or self.settings.global_proxy_url)

    def account_ids(self) -> set[int]:
        """Ids of every account in the pool."""
        return set(self._records)

    # -- health ----------------------------------------------------------------------------------------------

    async def record_success(self, lease: Lease) -> None:
        """A job on this account succeeded: clear its error streak, count its use.

        The use counters change in memory at once and are written behind
        (:meth:`~flow2api.storage.accounts.AccountRepository.write_usage_later`), off the answer's path;
        an error streak (rare) is cleared with a direct update, in order with the failures that set it.
        """
        record = self._records.get(lease.account_id)
        if record is None:
            return
        if record.consecutive_errors:
            record = await self.update(lease.account_id, consecutive_errors=0)
        self._records[lease.account_id] = replace(record, last_used_at=time.time(), use_count=record.use_count + 1)
        self.repo.write_usage_later(lease.account_id, lambda: self._records.get(lease.account_id))

    async def record_failure(self, lease: Lease, exc: Flow2APIError) -> None:
        """Apply the health policy (:func:`flow2api.pool.health.judge`) to an account-specific failure.

        Proxy failures are counted per redacted proxy URL in ``proxy_failures``;
        a disabled account leaves the rotation with its ban reason.
        """
        account_id = lease.account_id
        record = self._records.get(account_id)
        verdict = judge(record, exc, self.settings, now=time.time()) if record is not None else None
        if verdict is None:
            return
        if verdict.refresh:
            self.refresher.forced.add(account_id)  # ensure_fresh disables the account if the refresh is rejected
        if verdict.proxy is not None:
            self.proxy_failures[verdict.proxy] = self.proxy_failures.get(verdict.proxy, 0) + 1
        await self.update(account_id, **verdict.changes)
        if verdict.cooldown is not None:
            log.warning("account %d rate limited upstream: cooling down for %.0f s", account_id, verdict.cooldown)
            with contextlib.suppress(CoordinationUnavailableError):  # the row has it: the change feed shares it too
                await self.coordination.cool_down(account_id, verdict.changes["cooldown_until"])
        if verdict.disable is not None:
            await self.disable(account_id, verdict.disable, exc.message)

    async def disable(self, account_id: int, reason: str, detail: str) -> None:
        """Take the account out of the rotation with ban ``reason`` and ``detail`` as its last error (idempotent)."""
        if account_id not in self._records or not self._records[account_id].enabled:
            return
        await self.update(account_id, enabled=False, ban_reason=reason, last_error=detail)
        log.warning("account %d disabled: %s", account_id, reason)

