"""``flow2api`` for benchmarks: ``python bench/_serve.py STATS_FILE|- serve …``.

Runs the ordinary CLI (same arguments after the first one) after applying the
monkeypatches named in ``FLOW2API_BENCH_PATCHES`` (``bench/_patches.py``).
Unless the first argument is ``-``, a probe task in the server's event loop
sleeps 10 ms at a time and records how late each wake-up is. The maximum lag and the number of samples are written
to ``STATS_FILE`` as JSON every 0.5 s (``{"max_lag_s", "samples", "over_100ms"}``),
so a benchmark can read them while the server runs. The probe itself costs
about 100 wake-ups a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import flow2api.cli as cli  # noqa: E402
from _patches import apply  # noqa: E402

PERIOD = 0.01


async def probe(stats: Path) -> None:
    """Measure scheduling lag of a ``PERIOD`` sleep until cancelled, writing stats every 0.5 s."""
    loop = asyncio.get_running_loop()
    worst, samples, over = 0.0, 0, 0
    last_write = 0.0
    while True:
        started = loop.time()
        await asyncio.sleep(PERIOD)
        lag = loop.time() - started - PERIOD
        samples += 1
        worst = max(worst, lag)
        over += lag > 0.1
        now = time.monotonic()
        if now - last_write >= 0.5:
            last_write = now
            tmp = stats.with_suffix(".tmp")
            tmp.write_text(json.dumps({"max_lag_s": worst, "samples": samples, "over_100ms": over}))
            os.replace(tmp, stats)


def main() -> int:
    apply(os.environ.get("FLOW2API_BENCH_PATCHES", ""))
    if sys.argv[1] == "-":
        return cli.main(sys.argv[2:])
    stats = Path(sys.argv[1])
    original = cli.run_server

    async def run_server(settings, *, demo):  # noqa: ANN001, ANN202 - same signature as flow2api.cli.run_server
        task = asyncio.create_task(probe(stats), name="bench-loop-lag-probe")
        try:
            await original(settings, demo=demo)
        finally:
            task.cancel()

    cli.run_server = run_server
    return cli.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
