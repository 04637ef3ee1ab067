"""The HTrJv model catalogue (spec §5.7, §5.8, §7, §10): the emulator answers it from its model table and takes
only catalogue keys for extend and promotion; the flowweb client reads it per account and picks those keys."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path

import aiohttp
import openai
import pytest
from flowweb_helpers import FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, chat, flowweb_settings
from test_flowweb_video_jobs import call_for, video_job

from flow2api.discovery import PROVIDERS
from flow2api.errors import UpstreamProtocolError
from flow2api.plugin import MediaOutput
from flow2api.testing import Gateway
from flow2api_flowweb.catalogue import EXTEND_REQUIREMENTS, PROMOTION_REQUIREMENTS, parse_catalogue

from flowweb_emulator_session import LAYOUT, Session, clock, emulator, session  # noqa: F401 - fixtures

LANDSCAPE = "VIDEO_ASPECT_RATIO_LANDSCAPE"
EXTEND = {"video_model_key": "veo_3_1_extend_lite", "sub_kind": "extend", "aspect_ratio": LANDSCAPE}


# -- the emulator -------------------------------------------------------------------------------------------


async def finished_video(session: Session, project: str) -> list:
    record = (await session.payload("YhhmEf", LAYOUT.text_to_video(
        project, model="veo_3_1_t2v_lite", aspect_ratio=LANDSCAPE, prompt="p", resolution="720p"),
        project=project))[3][0][0]
    for _ in range(2):
        await session.payload("jwpduf", LAYOUT.check_status([record[0]]))
    return record


async def test_htrjv_answers_the_family_layout_without_a_token(session: Session) -> None:
    payload = await session.payload("HTrJv", [])
    assert (await session.payload("HTrJv", [1]))[1] == [3]
    families = {family[0]: family for family in payload[0][4]}
    assert {"Omni 1.1 Flash", "Veo 3.1 - Lite", "Upscale"} <= set(families)
    assert {family[0] for family in payload[0][5]} >= {"Nano Banana Pro", "Nano Banana 2.1"}
    lite = families["Veo 3.1 - Lite"]
    assert len(lite) == 6 and isinstance(lite[3], str) and lite[5] is False
    extend = next(u for u in lite[1] if u[0] == "veo_3_1_extend_lite")
    assert len(extend) == 25 and extend[7][0][0][1] == [1, 14] and extend[12][0] == [1, 2] and extend[24] is False
    assert [entry[0] for entry in extend[4]] == [1, 2, 3] and all(entry[1][1] is None for entry in extend[4])
    four_k = next(u for u in families["Upscale"][1] if u[0] == "veo_3_1_upsampler_4k")
    assert four_k[4][0][1] == [[None, 50], four_k[4][0][1][1]] and four_k[4][0][1][1] is not None  # not for ENTRY
    assert four_k[4][2][1][1] is None and four_k[7][0][0][1] == [16]
    catalogue = parse_catalogue(payload)
    assert [u.key for u in catalogue.usable(EXTEND_REQUIREMENTS, tier=1)] == ["veo_3_1_extend_lite"]
    assert catalogue.usable((PROMOTION_REQUIREMENTS["VIDEO_RESOLUTION_4K"],), tier=1) == []
    assert [u.key for u in catalogue.usable((16,), tier=3)] == ["veo_3_1_upsampler_4k"]
    assert session.emulator.calls("reload") == []  # no reCAPTCHA token minted for it


async def test_extend_and_promotion_take_only_catalogue_keys_open_to_the_tier(session: Session) -> None:
    account = session.emulator.account(session.email)
    account.service_tier = 1
    project = await session.project()
    record = await finished_video(session, project)
    credits = account.credits

    def extend(key: str) -> list:
        return LAYOUT.extend_video(project, model=key, aspect_ratio=LANDSCAPE, prompt="more", source=record[0])

    def promote(key: str, target: str) -> list:
        return LAYOUT.upscale_video(project, source=record[0], workflow_id=record[2], aspect_ratio=LANDSCAPE,
                                    target=target, upsampler_key=key, seed="5F1C2B2E-0000-4000-8000-000000000000")

    unknown = await session.payload("fZytfe", extend("veo_3_1_extend_lite_v2"), project=project)
    assert unknown[1] == [3] and "not a fZytfe model key of the catalogue" in unknown[2]
    quality = await session.payload("fZytfe", extend("veo_3_1_extend"), project=project)  # tiers 2-3 only
    assert quality[1][0] == 7 and "PUBLIC_ERROR_MODEL_ACCESS_DENIED" in quality[1][2][0][1]
    four_k = await session.payload("p0UkFb", promote("veo_3_1_upsampler_4k", "VIDEO_RESOLUTION_4K"), project=project)
    assert four_k[1][0] == 7
    crossed = await session.payload("p0UkFb", promote("veo_3_1_upsampler_1080p", "VIDEO_RESOLUTION_4K"),
                                    project=project)
    assert crossed[1] == [3]
    assert account.credits == credits  # nothing was charged for a refused key
    session.emulator.settings.extend_key = "veo_3_2_extend_lite"
    assert (await session.payload("fZytfe", extend("veo_3_1_extend_lite"), project=project))[1] == [3]
    renamed = await session.payload("fZytfe", extend("veo_3_2_extend_lite"), project=project)
    assert renamed[3][0][0][7][0][12] == "veo_3_2_extend_lite" and account.credits == credits - 10


def test_the_parser_ignores_unknown_trailing_fields_and_odd_entries() -> None:
    from flow2api_flowweb.emulator import FlowWebEmulator
    from flow2api_flowweb.emulator.models import catalogue_payload

    payload = copy.deepcopy(catalogue_payload(FlowWebEmulator()))
    for family in payload[0][4]:
        family += ["a later field", [1, 2]]
        for usage in family[1]:
            usage += [None, {"x": 1}, "more"]
    payload[0][4] += [None, "garbage", ["No usages", None]]
    payload[0][4][0][1].append(["", None])
    payload[0] += [["trailing root slot"]]
    catalogue = parse_catalogue(payload)
    assert {"veo_3_1_extend_lite", "veo_3_1_extend", "veo_3_1_upsampler_4k"} <= {u.key for u in catalogue.video}
    assert "" not in {u.key for u in catalogue.video} and {u.key for u in catalogue.image} >= {"BELUGA"}
    extend = next(u for u in catalogue.video if u.key == "veo_3_1_extend")
    assert extend.requirements == {1, 14} and not extend.available_to(1) and extend.available_to(3)
    assert extend.cost_for(2).credits == 20 and extend.family == "Veo 3.1 - Quality"
    with pytest.raises(UpstreamProtocolError, match=r"payload\[0\]\[4\]"):
        parse_catalogue([[None, None]])


# -- the client ---------------------------------------------------------------------------------------------


async def extend_once(gateway: Gateway, source: str, **options: object) -> list:
    provider = gateway.app[PROVIDERS]["flowweb-video"]
    job = video_job("it enters a tunnel", extend_media_id=source, **{**EXTEND, **options})
    async with aiohttp.ClientSession() as http:
        return [e async for e in provider.generate(call_for(gateway, job, http))]


async def source_video(gateway: Gateway, flowweb: FlowWeb) -> str:
    await chat(gateway, "fw-t2v", "a train leaves")
    return next(m.id for m in flowweb.emulator.world.media.values() if m.kind == "video" and m.source is None)


def sent_keys(flowweb: FlowWeb) -> list[str]:
    return [call.args[0][0][2] for call in flowweb.emulator.calls("fZytfe")]


async def test_the_extend_carries_the_key_the_catalogue_lists(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.settings.extend_key = "veo_3_2_extend_lite"  # the catalog route still says veo_3_1_extend_lite
    source = await source_video(fw_gateway, flowweb)
    events = await extend_once(fw_gateway, source)
    assert any(isinstance(e, MediaOutput) for e in events)
    assert sent_keys(flowweb) == ["veo_3_2_extend_lite"]  # the cheapest extend usage for tier 2, not the Quality one
    assert [c.args for c in flowweb.emulator.calls("HTrJv")] == [[]]
    await extend_once(fw_gateway, source)
    assert len(flowweb.emulator.calls("HTrJv")) == 1  # cached for the account


async def test_the_catalogue_is_read_again_after_its_ttl_and_after_a_refused_key(fw_gateway: Gateway,
                                                                                 flowweb: FlowWeb) -> None:
    model_keys = fw_gateway.app[PROVIDERS]["flowweb-video"].family.model_keys
    now = [1000.0]
    model_keys.clock = lambda: now[0]
    source = await source_video(fw_gateway, flowweb)
    await extend_once(fw_gateway, source)
    flowweb.emulator.settings.extend_key = "veo_3_2_extend_lite"  # Flow renamed it after the catalogue was read
    events = await extend_once(fw_gateway, source)
    assert any(isinstance(e, MediaOutput) for e in events)
    assert sent_keys(flowweb) == ["veo_3_1_extend_lite", "veo_3_1_extend_lite", "veo_3_2_extend_lite"]
    assert len(flowweb.emulator.calls("HTrJv")) == 2  # re-read once after the refusal
    now[0] += model_keys.ttl + 1
    await extend_once(fw_gateway, source)
    assert len(flowweb.emulator.calls("HTrJv")) == 3 and sent_keys(flowweb)[-1] == "veo_3_2_extend_lite"


async def test_an_unreadable_catalogue_falls_back_to_the_catalog_key(fw_gateway: Gateway, flowweb: FlowWeb,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    flowweb.emulator.faults.add({"kind": "status", "status": 500, "operation": "HTrJv"})
    source = await source_video(fw_gateway, flowweb)
    with caplog.at_level(logging.WARNING, logger="flow2api_flowweb.model_keys"):
        events = await extend_once(fw_gateway, source)
    assert any(isinstance(e, MediaOutput) for e in events) and sent_keys(flowweb) == ["veo_3_1_extend_lite"]
    assert "could not be read" in caplog.text and "veo_3_1_extend_lite" in caplog.text


@pytest.fixture
async def entry_gateway(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> Gateway:
    """A gateway whose one account is paygate TWO (the catalog's tier gates pass) but service tier 1 (ENTRY)."""
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb), FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("entry@example.com", tier=2, credits=500,
                                                                    service_tier=1))
    return gateway


async def test_a_tier_without_4k_gets_a_400_naming_upscale_and_pays_nothing(entry_gateway: Gateway,
                                                                           flowweb: FlowWeb) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await chat(entry_gateway, "fw-t2v-4k", "a city at night")
    error = raised.value.body
    assert "upscale to 4K" in error["message"] and "service tier (1, ENTRY)" in error["message"]
    assert error["type"] == "invalid_request_error" and error["param"] == "model"
    assert flowweb.emulator.calls("YhhmEf") == [] and flowweb.emulator.calls("p0UkFb") == []
    assert flowweb.emulator.account("entry@example.com").credits == 500
    content = await chat(entry_gateway, "fw-t2v-1080p", "the same city")  # 1080p is open to ENTRY
    assert "_upsampled" in content or flowweb.emulator.calls("p0UkFb")[0].args[0][0][31] == "veo_3_1_upsampler_1080p"


async def test_a_refused_upsampler_key_is_checked_against_a_fresh_catalogue_once(fw_gateway: Gateway,
                                                                               flowweb: FlowWeb) -> None:
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    job = video_job("a bridge", video_model_key="veo_3_1_t2v_lite", upsample="VIDEO_RESOLUTION_4K",
                    upsampler_key="veo_3_1_upsampler_4k")
    flowweb.emulator.account("alice@example.com").service_tier = 1  # downgraded after the account was read
    async with aiohttp.ClientSession() as http:
        events = [e async for e in provider.generate(call_for(fw_gateway, job, http))]
    # the account still reads as tier 2, so the fresh catalogue gives the same key: the refusal stands and the
    # original video is returned, as for any failed promotion
    assert len(flowweb.emulator.calls("HTrJv")) == 2 and len(flowweb.emulator.calls("p0UkFb")) == 1
    output = next(e for e in events if isinstance(e, MediaOutput))
    assert output.upstream_id == flowweb.emulator.calls("jwpduf")[0].args[2][0][0]
