"""The running catalog: :class:`CatalogHolder` swaps one reference on reload, or keeps the old catalog and says why.

Reload triggers (all end in the same load-validate-swap):

* file change — :meth:`CatalogHolder.watch`, watchfiles on the *parent
  directory* filtered by name, because editors and ``os.replace`` give the
  file a new inode and a watch on the file itself misses the second of two
  atomic replaces;
* SIGHUP — the CLI calls :meth:`CatalogHolder.request_reload`;
* the admin API and site — :meth:`CatalogHolder.reload`.

A request reads ``holder.current`` once and keeps that snapshot, so a reload
never changes what an in-flight request resolved.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flow2api.catalog.loader import catalog_digest, load_catalog, parse_catalog
from flow2api.catalog.model import Catalog, CatalogError
from flow2api.plugin import Provider

log = logging.getLogger(__name__)


def _read_settled(path: Path, attempts: int = 5, pause: float = 0.02) -> str:
    """The file's text, read again while its size or mtime moves under us (an in-place write in progress).

    Raises :class:`CatalogError` when it cannot be read or is not UTF-8.
    """
    raw = b""
    for _ in range(attempts):
        try:
            before = os.stat(path)
            raw = path.read_bytes()
            after = os.stat(path)
        except OSError as exc:
            raise CatalogError([f"{path}:1: (file): cannot read: {exc.strerror}"]) from None
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and len(raw) == after.st_size:
            break
        time.sleep(pause)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CatalogError([f"{path}:1: (file): cannot read: not UTF-8 text"]) from None


@dataclass
class CatalogHolder:
    """Holds the current :class:`Catalog`; reloading swaps it atomically or keeps it and records why.

    ``last_error`` is ``None`` after a good load, else the problems of the
    last failed one (``<file>:<line>: <field>: <message>`` lines);
    ``last_attempt`` the Unix time of the last reload attempt.
    """

    path: Path
    providers: Mapping[str, Provider]
    current: Catalog
    last_error: list[str] | None = None
    last_attempt: float = field(default_factory=time.time)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _tasks: set[asyncio.Task[bool]] = field(default_factory=set, init=False, repr=False)

    @classmethod
    def load(cls, path: Path, providers: Mapping[str, Provider]) -> CatalogHolder:
        """Load the first catalog; raises :class:`CatalogError` (start-up must fail on a bad file)."""
        catalog = load_catalog(path, providers)
        _log_loaded(catalog)
        return cls(path=path, providers=providers, current=catalog)

    def _load(self) -> Catalog:
        text = _read_settled(self.path)
        current = self.current
        # Watchers report touches and repeated events too; unchanged bytes need no parse (about 70 ms of CPU).
        if catalog_digest(text) == current.digest:
            return current
        return parse_catalog(text, str(self.path), self.providers)

    def _apply(self, outcome: Catalog | CatalogError) -> bool:
        self.last_attempt = time.time()
        if isinstance(outcome, CatalogError):
            self.last_error = outcome.problems
            log.error("catalog reload failed, keeping digest %s: %s", self.current.digest, outcome)
            return False
        self.last_error = None
        if outcome.digest != self.current.digest:
            self.current = outcome
            _log_loaded(outcome)
        return True

    async def reload(self) -> bool:
        """Load the file again, parsed in a worker thread so serving continues meanwhile; True when the file's
        catalog is in place, False when the old one was kept (the problems are logged and kept in ``last_error``).

        Reloads run one at a time, so an older file can never overwrite a newer one.
        """
        async with self._lock:
            try:
                outcome: Catalog | CatalogError = await asyncio.to_thread(self._load)
            except CatalogError as exc:
                outcome = exc
            return self._apply(outcome)

    def request_reload(self) -> None:
        """Schedule :meth:`reload` on the running loop (a signal handler's entry point)."""
        task = asyncio.get_running_loop().create_task(self.reload(), name="catalog-reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def watch(self, debounce_ms: int = 50) -> None:
        """Reload whenever the file changes; runs until cancelled.

        Watches the parent directory and filters by name, because an atomic
        replace (editors, ``os.replace``) gives the file a new inode.
        """
        import watchfiles

        target = self.path.resolve()
        async for changes in watchfiles.awatch(
            target.parent, debounce=debounce_ms, step=20, recursive=False,
            watch_filter=lambda _change, changed: Path(changed).resolve() == target,
        ):
            if changes:
                await self.reload()


def _log_loaded(catalog: Catalog) -> None:
    log.info(
        "catalog %s loaded from %s: %d models, %d aliases%s",
        catalog.digest, catalog.source, len(catalog.entries), len(catalog.aliases),
        f", {len(catalog.warnings)} unavailable routes" if catalog.warnings else "",
    )
