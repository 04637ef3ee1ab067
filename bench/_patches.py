"""Named monkeypatches for A/B runs of the benchmarks (``FLOW2API_BENCH_PATCHES=a,b`` under ``bench/_serve.py``).

Two uses, both only inside a benchmark's gateway process:

* **before**: undo an optimisation that is in the code now, so "before" and
  "after" are measured side by side in one run under the same machine load
  (``deferred-commits``, ``uuid-request-id``, ``media-file-response``).
* **proposed**: try a fix for a hot spot before it lands, to measure its gain
  (``uvloop`` did so; ``media-write-off-loop``, measured in the first pass, was
  removed once batched media writes landed). Each patch says which function it
  replaces and why.

Nothing here is imported by flow2api itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def deferred_commits() -> None:
    """Before: Python's deferred transactions, every write an ``execute`` hop plus a ``commit`` hop.

    Undoes the autocommit mode of ``flow2api.storage.database`` (issue 8).
    """
    import aiosqlite

    from flow2api.storage.database import Connection

    connect = aiosqlite.connect

    def deferred(database, **kwargs):  # noqa: ANN001, ANN202
        kwargs.pop("isolation_level", None)
        return connect(database, **kwargs)

    async def commit(self) -> None:  # noqa: ANN001
        await self._conn.commit()

    aiosqlite.connect = deferred
    Connection.commit = commit  # type: ignore[method-assign]


def uuid_request_id() -> None:
    """Before: request ids from ``uuid.uuid4()`` (one ``getrandom`` system call per request)."""
    import uuid

    from flow2api.pipeline import context

    context.new_request_id = lambda: uuid.uuid4().hex[:16]  # type: ignore[attr-defined]


def media_file_response() -> None:
    """Before: every ``/media/`` file through ``FileResponse`` (flow2api/api/media.py ``get_media`` before issue 8).

    ``FileResponse`` costs two executor round trips (stat, open) plus
    ``sendfile`` set-up per request: 11 % of the loop's samples when clients
    fetch their images right after generation. Since issue 8, files up to
    256 KiB are read with one ``asyncio.to_thread`` and answered as a plain
    ``web.Response`` (−15 % server CPU per image at 50 clients, measured as
    the then-proposed patch ``media-small-from-memory``).
    """
    from aiohttp import web

    from flow2api.api import media as module
    from flow2api.media import MEDIA
    from flow2api.settings import SETTINGS

    async def get_media(request: web.Request) -> web.StreamResponse:
        cache = request.config_dict[MEDIA]
        name = request.match_info["name"]
        if request.config_dict[SETTINGS].current.cache.sign_urls and not cache.signer.verify(
            name, request.query.get("expires"), request.query.get("sig"), now=time.time()
        ):
            raise web.HTTPForbidden(text="media URL signature missing, invalid or expired")
        path = cache.path_for(name)
        if path is None:
            raise web.HTTPNotFound(text="media not found or expired")
        return web.FileResponse(path, headers={
            "Content-Type": cache.mime_for(name), "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        })

    module.get_media = get_media


def no_task_writes() -> None:
    """Attribution only: task rows are not written (``TaskRepository.create``/``update`` return at once)."""
    from flow2api.storage.tasks import TaskRepository

    async def nothing(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        return None

    TaskRepository.create = nothing  # type: ignore[method-assign]
    TaskRepository.update = nothing  # type: ignore[method-assign]
    TaskRepository.record_resume = nothing  # type: ignore[method-assign]


def no_stats_writes() -> None:
    """Attribution only: no usage statistics, no request log row, no account counters in SQLite."""
    from flow2api.pool import pool as pool_module
    from flow2api.storage.tasks import RequestLogRepository
    from flow2api.storage.usage import UsageRepository

    def nothing(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003 - these two are not awaited
        return None

    async def nothing_awaited(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        return None

    UsageRepository.record = nothing  # type: ignore[method-assign]
    RequestLogRepository.add = nothing  # type: ignore[method-assign]
    pool_module.AccountPool.record_success = nothing_awaited  # type: ignore[method-assign]


def cprofile() -> None:
    """Attribution only: run the whole gateway under ``cProfile``; stats go to ``$FLOW2API_BENCH_CPROFILE`` at exit.

    Deterministic profiling slows every Python call, so only the shares are
    meaningful (read them with ``python -m pstats FILE``).
    """
    import atexit
    import cProfile
    import time

    # CPU time of the thread that enabled it (the event loop): wall time would charge a function for the time the
    # scheduler gave the CPU to the emulator or the load generator, which on 2 vCPUs is most of a loopback write.
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    atexit.register(lambda: profiler.dump_stats(os.environ.get("FLOW2API_BENCH_CPROFILE", "gateway.prof")))


def use_uvloop() -> None:
    """Proposed: run the gateway on uvloop's event loop instead of asyncio's (``uvloop.install()``)."""
    import uvloop

    uvloop.install()


def media_read_on_loop() -> None:
    """Attribution: ``/media/`` files up to 256 KiB read with a plain ``read()`` on the event loop (no thread)."""
    from aiohttp import web

    from flow2api.api import media as module
    from flow2api.media import MEDIA
    from flow2api.media.local import SMALL_FILE_BYTES

    original = module.get_media

    async def get_media(request: web.Request) -> web.StreamResponse:
        cache = request.config_dict[MEDIA]
        name = request.match_info["name"]
        size = cache.size_of(name)
        path = cache.path_for(name)
        if path is not None and size is not None and size <= SMALL_FILE_BYTES and "Range" not in request.headers:
            return web.Response(body=path.read_bytes(), headers={"Content-Type": cache.mime_for(name)})
        return await original(request)

    module.get_media = get_media


def no_media_files() -> None:
    """Attribution only: small results are kept in memory and never written to a file (lost at restart)."""
    from flow2api.media.files import BatchedFileWriter

    def write_nothing(self, files):  # noqa: ANN001, ANN202
        return [None] * len(files)

    BatchedFileWriter.write_all = write_nothing  # type: ignore[method-assign]


def floor() -> None:
    """Attribution only: the gateway without any of its own bookkeeping, to see what the rest costs.

    ``no-task-writes`` and ``no-stats-writes``, no media file at all (not even
    the worker-thread trip ``no-media-files`` keeps: results live in memory
    only), and no log records below WARNING. What is left per image is what any
    gateway that parses the client's request and builds its own upstream calls
    does: aiohttp's server for two requests, its client for four, JSON, the
    middleware pipeline (auth, rate limit, route, lease, proxy) and the provider.
    """
    import logging

    from flow2api.media.files import BatchedFileWriter

    async def keep_in_memory(self, name: str, data: bytes) -> None:  # noqa: ANN001
        return None

    no_task_writes()
    no_stats_writes()
    BatchedFileWriter.write = keep_in_memory  # type: ignore[method-assign]
    logging.disable(logging.INFO)


def memory_census() -> None:
    """Attribution only: on ``SIGUSR1`` write where the gateway's memory is to ``$FLOW2API_BENCH_MEMORY``.

    The report is the 30 biggest allocation sites of tracemalloc (10 frames each, traced since start-up:
    slows the gateway about 2x, so compare memory, not time) and the 30 most numerous object types of the
    garbage collector with their shallow sizes; the snapshot itself goes to ``$FLOW2API_BENCH_MEMORY.<n>.snap``
    (n counts the signals). ``bench/many_videos.py --memory-census`` sends the signal once idle, then once
    when 90 % of its jobs are in progress.
    """
    import collections
    import gc
    import signal
    import sys
    import tracemalloc

    tracemalloc.start(10)

    taken = iter(range(1_000_000))

    def report(_signum: int, _frame: object) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        path = os.environ.get("FLOW2API_BENCH_MEMORY", "gateway-memory.txt")
        snapshot.dump(f"{path}.{next(taken)}.snap")  # for offline comparisons (Snapshot.load, compare_to)
        lines = [f"traced: {sum(s.size for s in snapshot.statistics('filename')) / 2**20:.1f} MiB"]
        for stat in snapshot.statistics("traceback")[:30]:
            lines.append(f"{stat.size / 1024:10.1f} KiB {stat.count:8d} blocks")
            lines.extend(f"      {frame.filename}:{frame.lineno}" for frame in stat.traceback[-6:])
        counts: collections.Counter[str] = collections.Counter()
        sizes: collections.Counter[str] = collections.Counter()
        for obj in gc.get_objects():
            name = type(obj).__qualname__
            counts[name] += 1
            sizes[name] += sys.getsizeof(obj)
        lines.append("gc objects (count, shallow KiB):")
        lines.extend(f"{n:8d} {sizes[name] / 1024:10.1f} {name}" for name, n in counts.most_common(30))
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, report)


PATCHES: dict[str, Callable[[], None]] = {
    "floor": floor,
    "uvloop": use_uvloop,
    "media-read-on-loop": media_read_on_loop,
    "cprofile": cprofile,
    "memory-census": memory_census,
    "no-media-files": no_media_files,
    "no-task-writes": no_task_writes,
    "no-stats-writes": no_stats_writes,
    "deferred-commits": deferred_commits,
    "uuid-request-id": uuid_request_id,
    "media-file-response": media_file_response,
}


def apply(names: str) -> list[str]:
    """Apply the comma-separated patches; returns their names. Unknown names raise ``KeyError``."""
    applied = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        PATCHES[name]()
        applied.append(name)
    return applied
