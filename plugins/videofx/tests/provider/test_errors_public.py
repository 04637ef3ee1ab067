"""Error classification at the client boundary, one class per test, through the public surface (spec §1.5, §5.7, §5.10).

Faults are injected in the emulator; the client is the openai SDK. What each
class must do: credential → refresh (then "session expired"), 429 → cool
down + failover, reCAPTCHA → fresh token then failover, policy → clear 400
without retry, 5xx/timeout → another account, unknown shape → "upstream
changed" naming the field.
"""

from __future__ import annotations

import time

import openai
import pytest
from videofx_helpers import Gateway, fetch, is_mp4, user, video_url_of

from flow2api_videofx.emulator.settings import generate_session_token

MODEL = "veo_3_1_t2v_fast_landscape"
SUBMIT = "batchAsyncGenerateVideoText"


async def video(gw: Gateway) -> bytes:
    reply = await gw.sdk().chat.completions.create(model=MODEL, messages=user("a sailing boat"))
    content_type, body = await fetch(video_url_of(reply.choices[0].message.content))
    assert content_type == "video/mp4" and is_mp4(body)
    return body


async def two_accounts(start_gateway, **flow) -> Gateway:  # noqa: ANN001, ANN003
    gw = await start_gateway(flow=flow or None)
    await gw.add_account("one@example.com")
    await gw.add_account("two@example.com")
    return gw


async def test_expired_access_token_is_refreshed_and_the_submit_retried(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    emulator.faults.add({"kind": "expire_at", "operation": SUBMIT, "count": 1})
    sessions = len(emulator.calls("auth.session"))
    await video(gateway)
    assert [c.status for c in emulator.calls(SUBMIT)] == [401, 200]
    assert len(emulator.calls("auth.session")) == sessions + 1
    tokens = [c.json["clientContext"]["recaptchaContext"]["token"] for c in emulator.calls(SUBMIT)]
    assert len(set(tokens)) == 2  # the retry has a fresh token
    assert gateway.record(1).enabled


async def test_dead_session_token_disables_the_account_as_session_expired(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    email = "alice@example.com"
    emulator.accounts[email].st = generate_session_token()  # the operator's ST was revoked upstream
    emulator.world.expire_access_tokens(email, time.time())
    with pytest.raises(openai.APIStatusError) as first:
        await video(gateway)
    assert first.value.body["code"] == "upstream_credential_rejected"
    assert "expired or revoked" in first.value.message
    with pytest.raises(openai.APIStatusError) as second:
        await video(gateway)
    assert second.value.status_code == 503
    record = gateway.record(1)
    assert not record.enabled and record.ban_reason == "session expired"
    assert emulator.calls(SUBMIT) == []


async def test_rate_limit_cools_the_account_down_and_fails_over(start_gateway) -> None:  # noqa: ANN001
    gw = await two_accounts(start_gateway)
    emulator = gw.upstream.emulator
    emulator.faults.add({"kind": "status", "operation": SUBMIT, "status": 429, "retry_after": 30, "count": 1})
    await video(gw)
    submits = emulator.calls(SUBMIT)
    assert [c.status for c in submits] == [429, 200] and submits[0].account != submits[1].account
    limited = next(r for r in gw.pool.records() if r.email == submits[0].account)
    assert limited.cooldown_until is not None and 25 < limited.cooldown_until - time.time() <= 30
    other = next(r for r in gw.pool.records() if r.email == submits[1].account)
    assert not other.cooldown_until or other.cooldown_until < time.time()


async def test_rejected_recaptcha_is_retried_with_a_fresh_token(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    emulator.faults.add({"kind": "captcha_fail", "operation": SUBMIT, "count": 1})
    await video(gateway)
    submits = emulator.calls(SUBMIT)
    assert [c.status for c in submits] == [403, 200]
    contexts = [c.json["clientContext"] for c in submits]
    assert contexts[0]["recaptchaContext"]["token"] != contexts[1]["recaptchaContext"]["token"]
    assert contexts[0]["sessionId"] == contexts[1]["sessionId"]  # one logical request (spec §2.8)
    batches = {c.json["mediaGenerationContext"]["batchId"] for c in submits}
    assert len(batches) == 1
    assert len(emulator.calls("createTask")) == 2
    assert all(t.json["task"]["pageAction"] == "VIDEO_GENERATION" for t in emulator.calls("createTask"))


async def test_recaptcha_rejected_on_every_try_fails_over_to_another_account(start_gateway) -> None:  # noqa: ANN001
    gw = await two_accounts(start_gateway, max_retries=3)
    emulator = gw.upstream.emulator
    emulator.faults.add({"kind": "captcha_fail", "operation": SUBMIT, "count": 3})
    await video(gw)
    submits = emulator.calls(SUBMIT)
    assert [c.status for c in submits] == [403, 403, 403, 200]
    assert len({c.account for c in submits[:3]}) == 1 and submits[3].account != submits[0].account
    assert len({c.json["clientContext"]["recaptchaContext"]["token"] for c in submits}) == 4


async def test_safety_rejection_is_a_clear_400_without_retry(start_gateway) -> None:  # noqa: ANN001
    gw = await two_accounts(start_gateway)
    emulator = gw.upstream.emulator
    emulator.faults.add({"kind": "safety", "operation": SUBMIT, "message": "This prompt violates our policies."})
    with pytest.raises(openai.BadRequestError) as info:
        await video(gw)
    assert info.value.body["code"] == "content_policy_violation"
    assert "PUBLIC_ERROR_UNSAFE_GENERATION" in info.value.message and "violates our policies" in info.value.message
    assert len(emulator.calls(SUBMIT)) == 1
    assert all(r.enabled and not r.cooldown_until for r in gw.pool.records())


async def test_server_error_is_retried_on_another_account(start_gateway) -> None:  # noqa: ANN001
    gw = await two_accounts(start_gateway)
    emulator = gw.upstream.emulator
    emulator.faults.add({"kind": "status", "operation": SUBMIT, "status": 503, "count": 1})
    await video(gw)
    submits = emulator.calls(SUBMIT)
    assert [c.status for c in submits] == [503, 200] and submits[0].account != submits[1].account


async def test_timeout_is_retried_on_another_account(start_gateway) -> None:  # noqa: ANN001
    gw = await two_accounts(start_gateway, video_submit_timeout=0.2)
    emulator = gw.upstream.emulator
    emulator.faults.add({"kind": "latency", "operation": SUBMIT, "latency_ms": 600, "count": 1})
    await video(gw)
    accounts = [c.account for c in emulator.calls(SUBMIT)]
    assert len(accounts) == 2 and accounts[0] != accounts[1]


async def test_unknown_submit_reply_is_upstream_changed_naming_the_field(gateway: Gateway) -> None:
    gateway.upstream.emulator.faults.add({"kind": "bad_shape", "operation": SUBMIT})
    with pytest.raises(openai.APIStatusError) as info:
        await video(gateway)
    assert info.value.status_code == 502 and info.value.body["code"] == "upstream_changed"
    assert "'media' or 'operations'" in info.value.message


async def test_images_follow_the_same_token_and_refresh_rules(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    emulator.faults.add({"kind": "captcha_fail", "operation": "batchGenerateImages", "count": 1})
    emulator.faults.add({"kind": "expire_at", "operation": "project.createProject", "count": 1})  # AT dies here
    sessions = len(emulator.calls("auth.session"))
    reply = await gateway.sdk().chat.completions.create(model="gemini-3.1-flash-image-landscape", messages=user("a fox"))
    assert reply.choices[0].message.content.startswith("![Generated Image](")
    generations = emulator.calls("batchGenerateImages")
    assert [c.status for c in generations] == [401, 403, 200]  # refreshed, then a fresh token after the rejection
    assert len({c.json["clientContext"]["recaptchaContext"]["token"] for c in generations}) == 3
    assert len(emulator.calls("auth.session")) == sessions + 1
    assert {t.json["task"]["pageAction"] for t in emulator.calls("createTask")} == {"IMAGE_GENERATION"}
