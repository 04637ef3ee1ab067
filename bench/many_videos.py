"""Benchmark: thousands of concurrent video generations on one flow2api instance (issues 8 and 16).

The emulator (child process) finishes each video after ``--polls`` status
checks (default 20: a Veo job of ~60 s polled every 3 s, time-scaled to
``--interval`` seconds per poll, default 0.5). flow2api (child process,
``bench/_serve.py`` for its event-loop lag probe) has ``--accounts`` accounts
(default 10) and room for every job at once (``[generation] video_workers``).
The load generator (this process) creates ``--videos`` jobs (default 1,000)
through the Videos API (``POST /v1/videos``, 100 at a time), then follows them
with ``GET /v1/videos?limit=100`` pages every 2 s until all have ended, then
downloads a sample of 50 MP4s.

Printed: jobs completed/failed and the wall time; the most jobs seen
``in_progress`` at once (jobs run concurrently only while a video lasts longer
than the creation burst: for 10,000 use ``--polls 60 --interval 2``); the
gateway process's resident memory idle (before the first job), peak
(``VmHWM``) and at the end, and the peak's growth per job in progress (target:
peak ≤ 300 MB at 10,000 jobs, issue 16); upstream status calls
(``batchCheckAsyncVideoGenerationStatus``, from the emulator's request log) per
account per poll interval — the mean over the intervals in which the account
had jobs, and the maximum in any one interval (target ≤ 1: ``[flow]
status_batch_size`` = 100 media fit in one call, so ≤ 100 jobs per account);
the event loop's maximum lag (a 10 ms sleep probe in the server). Only the
gateway's process is measured; the emulator and this process are not.

``--memory-census FILE`` runs the gateway with the ``memory-census`` patch
(tracemalloc and a census of objects, ``bench/_patches.py``) and has it write
its report to FILE when 90 % of the jobs are in progress (slower: compare memory only).

Run: ``.venv/bin/python bench/many_videos.py [--videos 1000] [--accounts 10] [--polls 20] [--interval 0.5]
[--memory-census FILE]``; at scale ``--videos 10000 --accounts 100 --polls 60 --interval 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import MB, Gateway, emulator, gateway, lag_line, load_average, memory  # noqa: E402

MODEL = "veo_3_1_t2v_fast_landscape"
STATUS = "batchCheckAsyncVideoGenerationStatus"
TARGET_MB = 300  # issue 16: peak RSS at 10,000 jobs


async def follow(http: aiohttp.ClientSession, gw: Gateway, ids: set[str], args: argparse.Namespace) -> dict[str, Any]:
    """Page through ``GET /v1/videos`` every 2 s until every job of ``ids`` ended.

    Returns ``ended`` (id → status), ``peak_rss`` (sampled, bytes) and ``most_running`` (jobs ``in_progress``
    in one scan). With ``--memory-census`` the gateway is signalled once, when 90 % of the jobs are in progress.
    """
    ended: dict[str, str] = {}
    peak_rss = most_running = 0
    census = False
    deadline = time.monotonic() + args.timeout
    while len(ended) < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(ids) - len(ended)} videos unfinished after {args.timeout} s")
        await asyncio.sleep(2)
        peak_rss = max(peak_rss, memory(gw.pid)[0])
        after, running = None, 0
        while True:
            query = "?limit=100&order=asc" + (f"&after={after}" if after else "")
            async with http.get(f"{gw.base}/v1/videos{query}", headers=gw.auth) as resp:
                page = await resp.json()
            for job in page["data"]:
                if job["status"] in ("completed", "failed"):
                    ended[job["id"]] = job["status"]
                running += job["status"] == "in_progress"
            if not page["has_more"]:
                break
            after = page["last_id"]
        if args.memory_census and not census and running >= 0.9 * len(ids):
            census = True
            os.kill(gw.pid, signal.SIGUSR1)
        most_running = max(most_running, running)
    return {"ended": ended, "peak_rss": peak_rss, "most_running": most_running}


def status_line(calls: list[dict[str, Any]], interval: float) -> str:
    """Status calls per account per poll interval: mean over the intervals an account polled in, and the max."""
    by_account: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    first = min((c["time"] for c in calls), default=0.0)
    for call in calls:
        by_account[call["account"]][int((call["time"] - first) / interval)] += 1
    per_interval = [n for buckets in by_account.values() for n in buckets.values()]
    means = [sum(b.values()) / len(b) for b in by_account.values() if b]
    return (f"status calls: {len(calls)} over {len(by_account)} accounts; per account per {interval:g} s interval: "
            f"mean {sum(means) / max(len(means), 1):.2f}, max {max(per_interval, default=0)}; target <= 1")


async def main(args: argparse.Namespace) -> None:
    generation = {"video_workers": args.videos, "video_slot_wait_timeout": 600, "video_timeout": 1800}
    if args.memory_census:
        os.environ["FLOW2API_BENCH_MEMORY"] = str(Path(args.memory_census).resolve())
    async with emulator(video_polls=args.polls, max_recorded_requests=2_000_000) as upstream, \
            gateway(upstream, accounts=args.accounts, poll_interval=args.interval, monitor=True,
                    generation=generation, patches="memory-census" if args.memory_census else "") as gw:
        idle_rss, _ = memory(gw.pid)
        print(f"{args.videos} videos, {args.accounts} accounts, {args.polls} polls every {args.interval} s, "
              f"{load_average()} at start; server idle RSS {idle_rss / MB:.1f} MB")
        if args.memory_census:  # snapshot 0: the idle gateway, to compare the busy ones with
            os.kill(gw.pid, signal.SIGUSR1)
            await asyncio.sleep(2)
        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:

            async def create(i: int) -> str:
                body = {"model": MODEL, "prompt": f"many videos {i}"}
                async with http.post(f"{gw.base}/v1/videos", json=body, headers=gw.auth) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"create failed: {resp.status} {await resp.text()}")
                    return (await resp.json())["id"]

            ids = set(await asyncio.gather(*(create(i) for i in range(args.videos))))
            created = time.perf_counter() - started
            seen = await follow(http, gw, ids, args)
            elapsed = time.perf_counter() - started
            sample = sorted(i for i, status in seen["ended"].items() if status == "completed")[:50]
            sizes = []
            for video_id in sample:
                async with http.get(f"{gw.base}/v1/videos/{video_id}/content", headers=gw.auth) as resp:
                    sizes.append(len(await resp.read()) if resp.status == 200 else 0)
        rss, hwm = memory(gw.pid)
        await asyncio.sleep(0.6)
        lag = gw.loop_stats()
        calls = [r for r in await upstream.requests(STATUS) if r["status"] == 200]

    outcome = collections.Counter(seen["ended"].values())
    running = seen["most_running"]
    print(f"jobs: {outcome['completed']} completed, {outcome['failed']} failed of {len(ids)}; created in "
          f"{created:.1f} s, all ended after {elapsed:.1f} s; at most {running} in progress at once; "
          f"{sum(1 for s in sizes if s > 0)}/{len(sizes)} sampled MP4s served")
    per_job = (hwm - idle_rss) / running / 1024 if running else float("nan")
    print(f"server RSS: idle {idle_rss / MB:.1f} MB, peak {hwm / MB:.1f} MB (VmHWM; sampled "
          f"{seen['peak_rss'] / MB:.1f}), end {rss / MB:.1f} MB; {per_job:.1f} KiB per job in progress; "
          f"target peak <= {TARGET_MB} MB at 10,000 jobs")
    print(status_line(calls, args.interval))
    print(lag_line(lag))
    if args.memory_census:
        print(f"memory census: {args.memory_census}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000, help="video jobs (default 1000)")
    parser.add_argument("--accounts", type=int, default=10, help="pool accounts (default 10)")
    parser.add_argument("--polls", type=int, default=20, help="status polls until a video is done (default 20)")
    parser.add_argument("--interval", type=float, default=0.5, help="[flow] poll_interval in seconds (default 0.5)")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds (default 900)")
    parser.add_argument("--memory-census", metavar="FILE", help="write the gateway's memory report to FILE")
    asyncio.run(main(parser.parse_args()))
