"""Batched status polling: one ``jwpduf`` per account per interval for all its running videos (spec §6.1).

ARCHITECTURE ("memory stays flat"): polling many video jobs on one account is one status call
per interval. A job subscribes its media id with :meth:`StatusPoller.updates` and receives one
:class:`~flow2api_flowweb.records.Record` (``None`` when the reply did not mention the id) per
poll; the account's loop runs while any id is subscribed, calling ``jwpduf`` with every id of
the account through the client that subscribed last. A failed poll is delivered to every
subscriber of that round as the exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from flow2api.errors import Flow2APIError, UpstreamError
from flow2api_flowweb.client import FlowWebClient
from flow2api_flowweb.records import Record

log = logging.getLogger(__name__)

Update = Record | None | Flow2APIError


class _AccountPolls:
    """The subscriptions of one account and the task that polls for them."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.watchers: dict[str, list[asyncio.Queue[Update]]] = {}
        self.projects: dict[str, str] = {}
        self.client: FlowWebClient | None = None
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while self.watchers:
            await asyncio.sleep(self.interval)
            ids = list(self.watchers)
            if not ids or self.client is None:
                continue
            # the page path of the newest subscriber; jwpduf works without it too (spec §2.1)
            project = self.projects.get(ids[-1])
            try:
                records = await self.client.check_status(project, ids)
            except Flow2APIError as exc:
                outcome: dict[str, Update] = {media_id: exc for media_id in ids}
            except Exception:  # a bug here must fail the waiting jobs, not leave them waiting forever
                log.exception("flowweb status poll failed")
                failure = UpstreamError("the status poll failed inside flow2api")
                outcome = {media_id: failure for media_id in ids}
            else:
                by_id = {r.media_id: r for r in records}
                outcome = {media_id: by_id.get(media_id) for media_id in ids}
            for media_id, update in outcome.items():
                for queue in self.watchers.get(media_id, []):
                    queue.put_nowait(update)


class StatusPoller:
    """The per-account polling loops of one family."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._accounts: dict[int, _AccountPolls] = {}

    async def updates(self, client: FlowWebClient, project: str | None, media_id: str) -> AsyncIterator[Record | None]:
        """One status per poll for ``media_id`` until the caller stops iterating; raises a failed poll's error."""
        account_id = client.account.view.id
        polls = self._accounts.get(account_id)
        if polls is None or polls.task is None or polls.task.done():
            polls = self._accounts[account_id] = _AccountPolls(self.interval)
        queue: asyncio.Queue[Update] = asyncio.Queue()
        polls.watchers.setdefault(media_id, []).append(queue)
        if project:
            polls.projects[media_id] = project
        polls.client = client
        if polls.task is None:
            polls.task = asyncio.create_task(polls.run(), name=f"flowweb-poll-{account_id}")
        try:
            while True:
                update = await queue.get()
                if isinstance(update, Flow2APIError):
                    raise update
                yield update
        finally:
            group = polls.watchers.get(media_id, [])
            if queue in group:
                group.remove(queue)
            if not group:
                polls.watchers.pop(media_id, None)
                polls.projects.pop(media_id, None)
