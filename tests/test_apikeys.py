"""Keys created by operators, through the whole gateway with the openai SDK."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI, AuthenticationError, PermissionDeniedError, RateLimitError

from flow2api.apikeys import API_KEYS
from tests.conftest import Gateway

MODEL = "gemini-3.1-flash-image-landscape"


async def test_created_key_with_limits(gateway: Gateway) -> None:
    store = gateway.app[API_KEYS]
    _, key = await store.create("team", rpm=2, models=[MODEL])
    async with AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0) as client:
        done = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a"}])
        assert done.choices[0].message.content.startswith("![")
        with pytest.raises(PermissionDeniedError, match="may not use the model"):
            await client.chat.completions.create(model="gemini-3.1-flash-image-portrait",
                                                 messages=[{"role": "user", "content": "b"}])
        with pytest.raises(RateLimitError) as err:
            await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "c"}])
        assert 1 <= int(err.value.response.headers["Retry-After"]) <= 60
    records = await store.list()
    assert records[0].last_used_at is not None


async def test_revoked_key_is_refused(gateway: Gateway) -> None:
    store = gateway.app[API_KEYS]
    record, key = await store.create("temp")
    assert await store.revoke(record.id)
    async with AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0) as client:
        with pytest.raises(AuthenticationError):
            await client.models.list()
