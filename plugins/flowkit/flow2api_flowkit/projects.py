"""Each account's pool of upstream projects, shared by both Flow families: choose, rotate, heal.

Flow scopes uploads and generations to a project (labs.google/fx spec §2.3, §5.8; flow.google.com
spec §7). :class:`ProjectPool` keeps the original flow2api HEAD rule: a new project per request
until the account has ``size`` of them, then round robin; creations of one account are
serialised, so concurrent first requests do not create more than ``size``.

A project can vanish upstream: deleted in the web UI, or forgotten by an emulator that
restarted (demo mode). Upstream then answers NOT_FOUND for it forever, so a stored id would
break every request of the account (issue 18, finding 8). :meth:`ProjectPool.run` heals that:
when a step raises :class:`ProjectGoneError`, the project is dropped from the account
(``AccountUpdate.gone_projects``), a new one is created and the steps run once more on it. A
second :class:`ProjectGoneError` propagates (an ordinary 502 ``upstream_error``, which the
pipeline may fail over), its message saying that the retry failed too and to re-add the account
(:func:`gone_again`): the retry is bounded to one per request attempt.

A project can also vanish after upstream accepted a job in it (while it is polled, before an upsample, or
while the gateway was down): such a job is never submitted again, since it would be paid twice. The
family drops the project (:meth:`ProjectPool.forget`, so the account's next request gets another) and the
job ends with :class:`ProjectLostError` (:func:`lost_with_project`: "submit the request again").
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from flow2api.errors import UpstreamError
from flow2api.plugin import AccountSession, AccountUpdate
from flow2api_flowkit.wording import after_retry, mid_job

log = logging.getLogger(__name__)

T = TypeVar("T")
Create = Callable[[str], Awaitable[str]]
"""Creates an upstream project with the given title and returns its id (``project.createProject`` / ``jHPbke``)."""


class ProjectGoneError(UpstreamError):
    """Upstream answered NOT_FOUND for ``project_id``: the project no longer exists for this account (502)."""

    def __init__(self, message: str, *, project_id: str = "", param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.project_id = project_id


def gone_again(exc: ProjectGoneError) -> ProjectGoneError:
    """The error to raise when the replacement project vanished too: ``exc``'s message plus "retrying on a new
    project failed too; re-add the account" (:data:`flow2api_flowkit.wording.RETRY_FAILED_HINT`)."""
    again = ProjectGoneError(after_retry(exc.message), project_id=exc.project_id, param=exc.param)
    again.__cause__ = exc
    return again


class ProjectLostError(ProjectGoneError):
    """A job upstream had accepted was lost with its project (502): never submitted again (it would be paid twice)."""


def lost_with_project(exc: ProjectGoneError) -> ProjectLostError:
    """The error of a job upstream had accepted when its project vanished (polling, an upsample's poll, a resume
    after a restart): ``exc``'s message with :data:`~flow2api_flowkit.wording.PROJECT_LOST_HINT` as the hint.
    Such a job is never submitted again (it would be paid twice); the caller drops the project first
    (:meth:`ProjectPool.forget`)."""
    lost = ProjectLostError(mid_job(exc.message), project_id=exc.project_id, param=exc.param)
    lost.__cause__ = exc
    return lost


class ProjectPool:
    """Per-account project choice for one family (one instance per family object, shared by its providers).

    ``size`` is the pool size (``[flow] project_pool_size`` / ``[flowweb] project_pool_size``).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._rotation: dict[int, itertools.count] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self, account_id: int) -> asyncio.Lock:
        return self._locks.setdefault(account_id, asyncio.Lock())

    async def _create(self, account: AccountSession, create: Create) -> str:
        count = len(account.view.projects)
        title = f"flow2api P{count + 1}"
        project_id = await create(title)
        await account.save(AccountUpdate(new_projects={project_id: title}))
        log.info("account %d: project %s created (%d of %d)", account.view.id, title, count + 1, self.size)
        return project_id

    async def choose(self, account: AccountSession, create: Create) -> str:
        """The project for the next request: a new one (via ``create``) until the pool is full, then round robin."""
        account_id = account.view.id
        async with self._lock(account_id):
            if len(account.view.projects) < self.size:
                return await self._create(account, create)
        projects = account.view.projects
        turn = next(self._rotation.setdefault(account_id, itertools.count()))
        return projects[turn % len(projects)]

    async def forget(self, account: AccountSession, gone: str) -> None:
        """Drop ``gone`` from the account (idempotent), so its next request chooses or creates another project."""
        if gone in account.view.projects:
            await account.save(AccountUpdate(gone_projects=(gone,)))
            log.warning("account %d: upstream no longer knows project %s; it is dropped", account.view.id, gone)

    async def replace(self, account: AccountSession, gone: str, create: Create) -> str:
        """Forget ``gone`` and return a project that exists: one another request created since ``gone`` was found
        missing (concurrent requests on the same stale project share one replacement), else a new one."""
        known = set(account.view.projects)
        await account.save(AccountUpdate(gone_projects=(gone,)))
        log.warning("account %d: upstream no longer knows project %s; it is dropped and replaced",
                    account.view.id, gone)
        async with self._lock(account.view.id):
            projects = account.view.projects
            if projects and projects[-1] not in known:
                return projects[-1]
            return await self._create(account, create)

    async def run(self, account: AccountSession, create: Create,
                  steps: Callable[[str], Awaitable[T]]) -> tuple[str, T]:
        """``(project, await steps(project))`` on a chosen project; after a :class:`ProjectGoneError` for it, once
        more on its replacement (see the module docstring). Other errors propagate unchanged."""
        project = await self.choose(account, create)
        try:
            return project, await steps(project)
        except ProjectGoneError as exc:
            if exc.project_id != project:
                raise
            project = await self.replace(account, project, create)
        try:
            return project, await steps(project)
        except ProjectGoneError as exc:
            if exc.project_id != project:
                raise
            raise gone_again(exc) from exc
