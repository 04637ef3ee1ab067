"""The shipped catalog lists no near-duplicate ids; each folded id is a legacy id that still generates (issue 19 item 7).

A near-duplicate is two models of one kind with the same routes and options whose ids differ only in word
order (``veo_3_1_t2v_lite_8s_landscape`` vs ``veo_3_1_t2v_lite_landscape_8s``); docs/catalog.md "Legacy ids".
"""

from __future__ import annotations

import re
from collections import defaultdict

import aiohttp
from openai import AsyncOpenAI

from flow2api.catalog import CatalogEntry, ResolveHints
from videofx_gateway import API_KEY, Gateway, Upstream, shipped_catalog

AUTH = {"Authorization": f"Bearer {API_KEY}"}
#: The 18 folded ids: Veo 3.1 Lite t2v / i2v / interpolation at 4, 6 and 8 s, written aspect-before-duration.
LEGACY = {f"veo_3_1_{family}_lite_{aspect}_{seconds}s": f"veo_3_1_{family}_lite_{seconds}s_{aspect}"
          for family in ("t2v", "i2v", "interpolation") for aspect in ("landscape", "portrait") for seconds in (4, 6, 8)}


def words(model_id: str) -> frozenset[str]:
    return frozenset(re.split(r"[-_.]", model_id))


def serving(entry: CatalogEntry) -> tuple:
    """What decides what a model makes: its kind and each route's provider, options and operations."""
    return entry.kind, tuple((r.provider, repr(r.options), tuple(sorted(r.operations))) for r in entry.routes)


async def test_no_two_listed_ids_are_near_duplicates(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{gateway.url}/v1/models", headers=AUTH) as resp:
        listed = [m["id"] for m in (await resp.json())["data"]]
    catalog = shipped_catalog()
    groups: dict[tuple, list[str]] = defaultdict(list)
    for model_id in listed:
        entry = catalog.entries.get(model_id)
        if entry is not None:
            groups[(words(model_id), serving(entry))].append(model_id)
    assert [ids for ids in groups.values() if len(ids) > 1] == []
    assert not set(LEGACY) & set(listed) and set(LEGACY.values()) <= set(listed)


async def test_every_legacy_id_resolves_to_its_canonical_model(gateway: Gateway) -> None:
    catalog = shipped_catalog()
    legacy = {a.id: a.alias_of for a in catalog.aliases.values() if a.alias_of is not None}
    assert legacy == LEGACY
    async with aiohttp.ClientSession() as session:
        for old, canonical in legacy.items():
            assert words(old) == words(canonical) and old not in catalog.entries, old
            for hints in (None, ResolveHints(aspect_ratio="9:16", image_size="4k", seconds="6")):
                assert catalog.resolve(old, hints) is catalog.entries[canonical], old   # hints never move it
            async with session.get(f"{gateway.url}/v1/models/{old}", headers=AUTH) as resp:
                shown = await resp.json()
            assert resp.status == 200 and shown["flow2api"]["alias_of"] == canonical, shown
            assert shown["flow2api"]["duration_seconds"] == int(canonical.split("_")[-2].rstrip("s"))


async def test_a_legacy_id_still_generates(gateway: Gateway, upstream: Upstream) -> None:
    old = "veo_3_1_t2v_lite_landscape_4s"
    async with AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0, timeout=60) as client:
        done = await client.chat.completions.create(model=old, messages=[{"role": "user", "content": "a wave"}])
    assert done.model == old and "<video" in done.choices[0].message.content
    (call,) = upstream.emulator.calls("batchAsyncGenerateVideoText")
    request = call.json["requests"][0]
    assert request["videoModelKey"] == "veo_3_1_t2v_lite_4s" and request["aspectRatio"] == "VIDEO_ASPECT_RATIO_LANDSCAPE"
