"""The shipped catalog lists no two models with the same upstream settings; every folded id still generates
(issue 19 item 7).

Ids that are the very same upstream configuration as another id (spec §4.3 "alias of": word order,
``veo_3_1_t2v_lite_8s_landscape`` vs ``veo_3_1_t2v_lite_landscape_8s``, and different words,
``veo_3_1_t2v_fast_landscape_4s`` = ``veo_3_1_t2v_fast_4s``) are folded by ``scripts/catalog_near_duplicates.py``
into the first id: a legacy id (``alias_of``), or, for a spec resolver alias whose own model was folded
(``veo_3_1_t2v_fast_8s``), a plain alias over the canonical ids; docs/catalog.md "Legacy ids".
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict

import aiohttp
import pytest
import yaml
from openai import AsyncOpenAI
from videofx_gateway import API_KEY, REPO, Gateway, Upstream, make_settings, shipped_catalog

from flow2api.catalog import Alias, CatalogEntry, ResolveHints
from flow2api.testing import AdminSite, png

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CATALOG = shipped_catalog()
#: ``{legacy id: its model}`` of the shipped file.
LEGACY = {a.id: a.alias_of for a in CATALOG.aliases.values() if a.alias_of is not None}
#: Spec §4.4 aliases whose also-concrete model had another id's settings: no longer also-concrete (spec §4.3).
FOLDED_ALIASES = {
    "veo_3_1_t2v_fast_8s": "veo_3_1_t2v_fast_landscape", "veo_3_1_t2v_8s": "veo_3_1_t2v_landscape",
    "veo_3_1_i2v_s_fast_8s_fl": "veo_3_1_i2v_s_fast_fl", "veo_3_1_i2v_s_8s": "veo_3_1_i2v_s_landscape",
    "veo_3_1_r2v_fast_8s": "veo_3_1_r2v_fast", "veo_3_1_r2v_fast_ultra_8s": "veo_3_1_r2v_fast_ultra",
    "veo_3_1_r2v_fast_ultra_relaxed_8s": "veo_3_1_r2v_fast_ultra_relaxed", "veo_3_1_t2v_8s_4k": "veo_3_1_t2v_4k",
    "veo_3_1_i2v_s_8s_4k": "veo_3_1_i2v_s_4k", "veo_3_1_t2v_8s_1080p": "veo_3_1_t2v_1080p",
    "veo_3_1_i2v_s_8s_1080p": "veo_3_1_i2v_s_1080p",
}
#: Every id that was a model before the fold, with the model that serves it now (82 = the spec's "alias of" rows).
OLD_IDS = {**LEGACY, **FOLDED_ALIASES}
#: One old id per kind of job (sub kind, upscale, legacy id or alias), the first in sorted order: what generates.
SAMPLE = sorted({(o.sub_kind, o.upsample, old in LEGACY): old for old in sorted(OLD_IDS, reverse=True)
                 for o in [CATALOG.entries[OLD_IDS[old]].routes[0].options]}.values())
RAW_ROUTES = {m["id"]: m["routes"] for m in yaml.safe_load((REPO / "models.yaml").read_text(encoding="utf-8"))["models"]}
IMAGE = "data:image/png;base64," + base64.b64encode(png(64, 36)).decode()


def settings_of(entry: CatalogEntry) -> tuple:
    """What decides what a model makes upstream: its kind and each route's provider, options (validated; as
    written for flowweb routes, whose provider these gateways lack) and operations."""
    written = RAW_ROUTES[entry.id]
    return entry.kind, tuple(
        (r.provider, r.options.model_dump_json() if r.options else json.dumps(raw["options"], sort_keys=True),
         tuple(sorted(r.operations))) for r, raw in zip(entry.routes, written, strict=True))


async def test_no_two_listed_models_share_settings(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{gateway.url}/v1/models", headers=AUTH) as resp:
        listed = [m["id"] for m in (await resp.json())["data"] if not m["flow2api"]["is_alias"]]
    assert listed == [e.id for e in CATALOG.public_entries()]
    groups: dict[tuple, list[str]] = defaultdict(list)
    for model_id in listed:
        groups[settings_of(CATALOG.entries[model_id])].append(model_id)
    assert [ids for ids in groups.values() if len(ids) > 1] == []
    assert len(OLD_IDS) == 82 and not set(OLD_IDS) & set(CATALOG.entries)
    assert not set(LEGACY) & set(listed) and set(OLD_IDS.values()) <= set(listed)


async def test_every_old_id_resolves_to_its_canonical_model(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session:
        for old, canonical in OLD_IDS.items():
            assert CATALOG.resolve(old) is CATALOG.entries[canonical], old
            alias = CATALOG.aliases[old]
            if old in LEGACY:   # a legacy id: hints never move it
                assert CATALOG.resolve(old, ResolveHints(aspect_ratio="9:16", image_size="4k")).id == canonical
            else:               # a spec alias: still picks the portrait variant, now the canonical portrait id
                assert isinstance(alias, Alias) and not alias.also_concrete and alias.all_targets <= set(CATALOG.entries)
                assert "portrait" in CATALOG.resolve(old, ResolveHints(aspect_ratio="9:16")).id, old
            async with session.get(f"{gateway.url}/v1/models/{old}", headers=AUTH) as resp:
                shown = await resp.json()
            assert resp.status == 200 and shown["is_alias"] is True, shown
            assert shown["flow2api"].get("alias_of", canonical) == canonical
            assert shown["flow2api"]["resolves_to"] == canonical


async def test_the_admin_models_page_lists_every_old_id_with_its_model(admin: AdminSite) -> None:
    """Where legacy ids are listed: the admin site's aliases table (``/admin/models``), old id → its model."""
    status, html, _ = await admin.client.get("/admin/models")
    assert status == 200
    for old, canonical in OLD_IDS.items():
        row = html.split(f"<td><code>{old}</code></td>", 1)[1].split("</tr>", 1)[0]
        assert canonical in row, old


def sent_keys(upstream: Upstream) -> list[str]:
    """The ``videoModelKey`` of every generation the emulator received (upscales excluded)."""
    return [request["videoModelKey"] for r in upstream.emulator.requests
            if r.operation.startswith("batchAsyncGenerateVideo") and r.operation != "batchAsyncGenerateVideoUpsampleVideo"
            for request in (r.json or {}).get("requests", [])]


@pytest.mark.parametrize("old", SAMPLE)
async def test_every_old_id_still_generates(old: str, tmp_path, upstream: Upstream, start_gateway) -> None:
    canonical = CATALOG.entries[OLD_IDS[old]]
    options = canonical.routes[0].options
    gateway = await start_gateway(make_settings(tmp_path, upstream))
    # an account of the tier the model needs (at least one), so the key is the catalog's own: spec §4.2 upgrades
    # keys for tier-two accounts only, and the tier-two models' keys are never upgraded
    tier = "PAYGATE_TIER_TWO" if options.required_tier == "PAYGATE_TIER_TWO" else "PAYGATE_TIER_ONE"
    account = upstream.emulator.add_account("old@example.com", tier=tier, credits=500)
    await gateway.pool.add("videofx", {"st": account.st})
    images = 2 if options.sub_kind in ("i2v", "i2v_first_last") else options.min_images
    content = [{"type": "text", "text": "a wave"}] + [{"type": "image_url", "image_url": {"url": IMAGE}}] * images
    async with AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0, timeout=60) as client:
        done = await client.chat.completions.create(model=old, messages=[{"role": "user", "content": content}])
    assert done.model == old and "<video" in done.choices[0].message.content
    assert sent_keys(upstream) == [options.video_model_key]
