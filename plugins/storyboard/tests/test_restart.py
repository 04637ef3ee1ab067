"""A restart while scenes are generating: the storyboard finishes afterwards and no scene is generated twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
from storyboard_helpers import STORY, Demo, auth, wait_for

from flow2api.storage import DATABASE


async def succeeded_tasks(demo: Demo, sb_id: str) -> Counter[int]:
    """Completed task rows per scene index (``<id>-<index>-<attempt>``)."""
    rows = await demo.app[DATABASE].fetch_all(
        "SELECT id FROM tasks WHERE surface = 'storyboards' AND status = 'completed' AND id LIKE ?", (f"{sb_id}-%",))
    return Counter(int(row.id.split("-")[1]) for row in rows)


async def test_restart_while_generating_finishes_without_generating_a_scene_twice(demo: Demo) -> None:
    await demo.start(storyboard={"max_parallel": 2})
    # every image takes 0.4 s upstream on this emulator, so the restart lands while scenes are in flight
    await demo.emulator("POST", "/_emulator/faults",
                        {"kind": "latency", "operation": "batchGenerateImages", "latency_ms": 400})
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{demo.url}/v1/storyboards", json={"story": STORY}, headers=auth()) as response:
            sb_id = (await response.json())["id"]
        url = f"{demo.url}/v1/storyboards/{sb_id}"
        for _ in range(200):
            board = await wait_for(http, url, ("generating", "ready"))
            states = [s["status"] for s in board["scenes"]]
            if states.count("done") >= 2 and "generating" in states:
                break
            await asyncio.sleep(0.05)
        assert states.count("done") >= 2 and "generating" in states, states
        before = {s["index"]: s["image_url"].rsplit("/", 1)[1] for s in board["scenes"] if s["status"] == "done"}
        await demo.stop()  # the gateway stops: the running scenes are cancelled, the storyboard stays "generating"
        first = await demo.image_requests()
        await demo.emulator("DELETE", "/_emulator/faults")
        await demo.emulator("DELETE", "/_emulator/requests")
        await demo.start()  # same settings and data directory, as a new process would start
        finished = await wait_for(http, f"{demo.url}/v1/storyboards/{sb_id}", timeout=90)

    assert finished["status"] == "ready"
    assert all(s["status"] == "done" for s in finished["scenes"]), [(s["status"], s["error"]) for s in finished["scenes"]]
    after = {s["index"]: s["image_url"].rsplit("/", 1)[1] for s in finished["scenes"]}
    assert {i: after[i] for i in before} == before  # scenes done before the restart keep their image
    # each scene has exactly one completed generation, and the second emulator only made the missing ones
    assert await succeeded_tasks(demo, sb_id) == Counter(range(len(finished["scenes"])))
    second = await demo.image_requests()
    remade = {s["index"] for s in finished["scenes"] if any(s["prompt"][:60] in item for item in second)}
    assert remade and not remade & set(before)
    cut_off = len(first) - (len(finished["scenes"]) - len(remade))
    assert 0 <= cut_off <= 2  # max_parallel: at most two images were in flight (upstream) when the gateway stopped
