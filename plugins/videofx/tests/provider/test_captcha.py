"""reCAPTCHA token sources (spec §1.6): registry and settings, failover chain, YesCaptcha no-slot back-off,
User-Agent consistency, a fresh token for every submission."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest
from videofx_helpers import Gateway, Upstream, fake_account, flow_sections, fetch, is_mp4, route_options, run_events, user, video_url_of

from flow2api.errors import CaptchaError, SolverUnavailableError
from flow2api.plugin import Call, Job, Kind, MediaOutput, PluginConfigError, PluginContext
from flow2api_videofx import VideoFXVideoProvider
from flow2api_flowkit.captcha import AntiCaptchaApi, CaptchaToken
from flow2api_flowkit.captcha_chain import BUILTIN_SOURCES, TokenChain, installed_sources
from flow2api_flowkit.config import CaptchaConfig
from flow2api_videofx.config import load_config
from flow2api_videofx.options import VideoOptions

OTHER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36"
PAGE = "https://labs.google/fx/tools/flow/project/0b5c2f2e-8f7e-4a8b-9d71-3f1e2a6c9b10"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_built_in_sources_are_registered_and_named_in_settings_errors() -> None:
    assert set(BUILTIN_SOURCES) <= set(installed_sources())
    with pytest.raises(PluginConfigError) as info:
        load_config({"captcha": {"captcha_method": "mysolver", "mysolver_api_key": "k", "typo_key": 1}},
                    sources=BUILTIN_SOURCES)
    message = str(info.value)
    assert "[captcha] captcha_method: unknown token source 'mysolver'" in message
    assert "[captcha] typo_key: unknown key" in message and "mysolver_api_key" in message and "'k'" not in message


async def test_a_third_party_source_plugs_in_through_the_registry(upstream: Upstream, http) -> None:  # noqa: ANN001
    seen: dict[str, object] = {}

    class Fixed:
        name = "fixed"

        async def solve(self, http, *, page_url: str, action: str, user_agent: str) -> CaptchaToken:  # noqa: ANN001
            seen.update(page_url=page_url, action=action)
            return CaptchaToken("tok-" + str(seen["settings"]["token_prefix"]), None)  # type: ignore[index]

    def fixed_source(config: CaptchaConfig) -> Fixed:
        seen["settings"] = config.source_settings("fixed")
        return Fixed()

    registry = {**BUILTIN_SOURCES, "fixed": fixed_source}
    config = load_config({"captcha": {"captcha_method": "fixed", "fixed_token_prefix": "abc"}}, sources=registry)
    chain = TokenChain.from_config(config.captcha, registry)
    token = await chain.token(http, page_url=PAGE, action="VIDEO_GENERATION", user_agent="ua")
    assert token == CaptchaToken("tok-abc", None) and seen["action"] == "VIDEO_GENERATION"


async def test_first_source_broken_means_the_second_is_used(start_gateway) -> None:  # noqa: ANN001
    gw: Gateway = await start_gateway(captcha={
        "captcha_method": "capsolver", "capsolver_api_key": "unused-key",
        "capsolver_base_url": f"http://127.0.0.1:{closed_port()}", "fallback_methods": ["yescaptcha"],
    })
    await gw.add_account("chain@example.com")
    reply = await gw.sdk().chat.completions.create(model="veo_3_1_t2v_fast_landscape", messages=user("x"))
    assert is_mp4((await fetch(video_url_of(reply.choices[0].message.content)))[1])
    tasks = gw.upstream.emulator.calls("createTask")
    assert len(tasks) == 1
    task = tasks[0].json["task"]
    assert task["type"] == "RecaptchaV3TaskProxylessM1S9" and task["minScore"] == 0.9
    assert task["websiteKey"] == "6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV" and task["pageAction"] == "VIDEO_GENERATION"
    project = gw.upstream.emulator.calls("batchAsyncGenerateVideoText")[0].json["clientContext"]["projectId"]
    assert task["websiteURL"] == f"https://labs.google/fx/tools/flow/project/{project}"


async def test_every_source_failing_is_one_captcha_error_listing_each(upstream: Upstream, http) -> None:  # noqa: ANN001
    port = closed_port()
    config = upstream.captcha_config(captcha_method="capmonster", capmonster_api_key="k",
                                     capmonster_base_url=f"http://127.0.0.1:{port}", fallback_methods=["ezcaptcha"],
                                     ezcaptcha_api_key="k", ezcaptcha_base_url=f"http://127.0.0.1:{port}")
    chain = TokenChain.from_config(config, BUILTIN_SOURCES)
    with pytest.raises(CaptchaError) as info:
        await chain.token(http, page_url=PAGE, action="IMAGE_GENERATION", user_agent="ua")
    assert "capmonster solver could not be reached" in info.value.message
    assert "ezcaptcha solver could not be reached" in info.value.message


def yescaptcha(upstream: Upstream, **overrides: object) -> AntiCaptchaApi:
    chain = TokenChain.from_config(upstream.captcha_config(**overrides), BUILTIN_SOURCES)
    source = chain.sources[0]
    assert isinstance(source, AntiCaptchaApi)
    return source


async def test_yescaptcha_no_slot_is_retried_with_back_off(upstream: Upstream, http) -> None:  # noqa: ANN001
    emulator = upstream.emulator
    emulator.faults.add({"kind": "status", "operation": "createTask", "status": 400,
                         "reason": "ERROR_NO_SLOT_AVAILABLE", "count": 2})
    source = yescaptcha(upstream, yescaptcha_no_slot_backoff=[0.03, 0.06, 1, 1, 1])
    token = await source.solve(http, page_url=PAGE, action="VIDEO_GENERATION", user_agent="ua")
    assert token is not None and token.token
    times = [c.time for c in emulator.calls("createTask")]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.03 * 0.9 and times[2] - times[1] >= 0.06 * 0.9


async def test_yescaptcha_block_waits_longer_and_gives_up_after_five_retries(upstream: Upstream, http) -> None:  # noqa: ANN001
    emulator = upstream.emulator
    emulator.faults.add({"kind": "status", "operation": "createTask", "status": 400,
                         "reason": "ERROR_NO_SLOT_AVAILABLE_BLOCK"})
    source = yescaptcha(upstream, yescaptcha_no_slot_backoff=[0.001] * 5, yescaptcha_no_slot_block_backoff=0.02)
    with pytest.raises(CaptchaError, match="ERROR_NO_SLOT_AVAILABLE_BLOCK"):
        await source.solve(http, page_url=PAGE, action="VIDEO_GENERATION", user_agent="ua")
    times = [c.time for c in emulator.calls("createTask")]
    assert len(times) == 6  # the first try and 5 retries (spec §1.6)
    assert all(b - a >= 0.02 * 0.9 for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("backoff", [[0.001, 0.001], []])
async def test_no_free_slot_after_the_last_retry_is_a_transient_error(upstream: Upstream, http, backoff) -> None:  # noqa: ANN001
    upstream.emulator.faults.add({"kind": "status", "operation": "createTask", "status": 400,
                                  "reason": "ERROR_NO_SLOT_AVAILABLE"})
    source = yescaptcha(upstream, yescaptcha_no_slot_backoff=backoff, solver_attempts=3)
    with pytest.raises(SolverUnavailableError, match="no free slot: ERROR_NO_SLOT_AVAILABLE"):
        await source.solve(http, page_url=PAGE, action="IMAGE_GENERATION", user_agent="ua")
    assert len(upstream.emulator.calls("createTask")) == len(backoff) + 1, "the back-off is the only retry of no-slot"


async def test_a_failed_task_is_solved_again_with_a_new_task(upstream: Upstream, http) -> None:  # noqa: ANN001
    emulator = upstream.emulator
    emulator.faults.add({"kind": "status", "operation": "getTaskResult", "status": 503, "count": 2})
    source = yescaptcha(upstream, solver_attempts=3)
    token = await source.solve(http, page_url=PAGE, action="VIDEO_GENERATION", user_agent="ua")
    assert token is not None and token.token
    created = [c.json for c in emulator.calls("createTask")]
    assert len(created) == 3 and created[0] == created[2], "one new task per lost solve, the same task each time"


async def test_a_solver_without_a_token_is_transient_and_a_refusal_is_not(upstream: Upstream, http) -> None:  # noqa: ANN001
    emulator = upstream.emulator
    emulator.faults.add({"kind": "status", "operation": "getTaskResult", "status": 503})
    with pytest.raises(SolverUnavailableError, match="ERROR_NO_SLOT_AVAILABLE") as lost:
        await yescaptcha(upstream, solver_attempts=2).solve(http, page_url=PAGE, action="IMAGE_GENERATION", user_agent="ua")
    assert lost.value.transient and len(emulator.calls("createTask")) == 2
    chain = TokenChain.from_config(upstream.captcha_config(solver_attempts=2), BUILTIN_SOURCES)
    with pytest.raises(SolverUnavailableError):
        await chain.token(http, page_url=PAGE, action="IMAGE_GENERATION", user_agent="ua")

    refused = yescaptcha(upstream, yescaptcha_api_key="not-the-key", solver_attempts=3)
    with pytest.raises(CaptchaError, match="refused the task: ERROR_KEY_DOES_NOT_EXIST") as info:
        await refused.solve(http, page_url=PAGE, action="IMAGE_GENERATION", user_agent="ua")
    assert not info.value.transient and len(emulator.calls("createTask")) == 5, "a refusal is not retried"


async def test_the_flow_request_uses_the_solvers_user_agent(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    solver = yescaptcha(upstream)

    class OwnBrowser:
        """A source whose browser has its own UA (like a solver that reports ``solution.userAgent``)."""

        name = "ownbrowser"

        async def solve(self, http, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:  # noqa: ANN001
            return await solver.solve(http, page_url=page_url, action=action, user_agent=OTHER_UA)

    provider = VideoFXVideoProvider(PluginContext(sections=flow_sections(upstream), data_dir=tmp_path))
    provider.tokens = TokenChain([OwnBrowser()])
    account = await fake_account(upstream, http)
    options = VideoOptions.model_validate(route_options("veo_3_1_t2v_fast_1080p"))
    job = Job(model="veo_3_1_t2v_fast_1080p", kind=Kind.VIDEO, prompt="x", options=options)
    events = await run_events(provider.generate(Call(job, account, http)))
    assert isinstance(events[-1], MediaOutput)
    emulator = upstream.emulator
    submits = emulator.calls("batchAsyncGenerateVideoText") + emulator.calls("batchAsyncGenerateVideoUpsampleVideo")
    assert [s.status for s in submits] == [200, 200]
    assert all(s.headers["user-agent"] == OTHER_UA for s in submits)
    assert all('"Google Chrome";v="147"' in s.headers["sec-ch-ua"] for s in submits)
    assert all(s.headers["sec-ch-ua-platform"] == '"macOS"' for s in submits)
    tokens = [s.json["clientContext"]["recaptchaContext"]["token"] for s in submits]
    assert len(set(tokens)) == 2  # a fresh token for the upsample submission too


async def test_image_generation_asks_for_the_image_action(upstream: Upstream, http) -> None:  # noqa: ANN001
    source = yescaptcha(upstream)
    token = await source.solve(http, page_url=PAGE, action="IMAGE_GENERATION", user_agent="ua")
    assert token is not None and token.user_agent == "ua"
    assert upstream.emulator.calls("createTask")[0].json["task"]["pageAction"] == "IMAGE_GENERATION"


async def test_a_solver_key_never_shows_in_errors(upstream: Upstream) -> None:
    async with aiohttp.ClientSession() as http:
        source = yescaptcha(upstream, yescaptcha_api_key="secret-solver-key-123")
        with pytest.raises(CaptchaError) as info:
            await source.solve(http, page_url=PAGE, action="VIDEO_GENERATION", user_agent="ua")
    assert "ERROR_KEY_DOES_NOT_EXIST" in info.value.message and "secret-solver-key-123" not in info.value.message
    assert "secret-solver-key-123" not in repr(source)
