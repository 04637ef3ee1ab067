"""Keys created by operators, through the whole gateway with the openai SDK."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI, AuthenticationError, PermissionDeniedError, RateLimitError

from flow2api.apikeys import API_KEYS
from flow2api.testing import FAKE_IMAGE_MODEL, FakeWorld, Gateway

MODEL = FAKE_IMAGE_MODEL


@pytest.fixture
async def gateway(fake: FakeWorld) -> Gateway:
    """A gateway of fake providers with one account."""
    return await fake.start()


async def test_created_key_with_limits(gateway: Gateway) -> None:
    store = gateway.app[API_KEYS]
    _, key = await store.create("team", rpm=2, models=[MODEL])
    async with AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0) as client:
        done = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a"}])
        assert done.choices[0].message.content.startswith("![")
        with pytest.raises(PermissionDeniedError, match="may not use the model"):
            await client.chat.completions.create(model="fake-image-portrait",
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
