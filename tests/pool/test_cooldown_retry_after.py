"""With every account cooling down after upstream 429s, a later request's 503 ``no_account_available``
carries ``Retry-After``: when the first cool-down ends (issue 18, item 15), on both surfaces."""

from __future__ import annotations

import aiohttp

from flow2api.errors import UpstreamRateLimitedError
from flow2api.testing import API_KEY, FakeWorld
from tests.api.conftest import IMAGE_MODEL

CHAT = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "a cat"}]}


async def test_503_names_when_the_first_cooldown_ends(fake: FakeWorld) -> None:
    gw = await fake.start(accounts=2, admin={"rate_limit_cooldown": 600})
    # The first account rests 40 s (upstream said so), the second the configured 600 s.
    fake.image.plans.extend([[UpstreamRateLimitedError("quota", retry_after=40)], [UpstreamRateLimitedError("quota")]])
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{gw.url}/v1/chat/completions", json=CHAT) as r:
            assert r.status == 429  # both accounts were tried: the last upstream refusal is the answer
        async with http.post(f"{gw.url}/v1/chat/completions", json=CHAT) as r:
            body = await r.json()
            assert r.status == 503 and body["error"]["code"] == "no_account_available"
            assert 38 <= int(r.headers["Retry-After"]) <= 40
        gemini = f"{gw.url}/v1beta/models/{IMAGE_MODEL}:generateContent"
        async with http.post(gemini, json={"contents": [{"parts": [{"text": "a cat"}]}]},
                             headers={"x-goog-api-key": API_KEY}) as r:
            assert r.status == 503 and (await r.json())["error"]["status"] == "UNAVAILABLE"
            assert 38 <= int(r.headers["Retry-After"]) <= 40


async def test_no_retry_after_when_the_pool_cannot_know(fake: FakeWorld) -> None:
    gw = await fake.start(accounts=1)
    await gw.pool.update(gw.pool.records()[0].id, enabled=False)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        async with http.post(f"{gw.url}/v1/chat/completions", json=CHAT) as r:
            assert r.status == 503 and "Retry-After" not in r.headers
