"""Bad input gets a clear 400 (404 for what does not exist) in OpenAI's error shape."""

from __future__ import annotations

import aiohttp
import pytest
from storyboard_helpers import STORY, Demo, auth, wait_for

BAD = [
    ({"story": ""}, "story", "'story' must not be empty."),
    ({"story": "   \n\n "}, "story", "'story' must not be empty."),
    ({"story": "x" * 1_000_000}, "story", "'story' is too long"),
    ({"story": STORY, "scenes": 0}, "scenes", "Invalid 'scenes'"),
    ({"story": STORY, "scenes": 25}, "scenes", "Invalid 'scenes'"),
    ({"story": STORY, "scenes": True}, "scenes", "Invalid 'scenes'"),
    ({"story": STORY, "model": "no-such-model"}, "model", "no-such-model"),
    ({"story": STORY, "model": "veo_3_1_t2v_fast_landscape"}, "model", "makes videos, not images"),
    ({"story": STORY, "size": "big"}, "size", "Invalid 'size'"),
    ({"story": STORY, "colour": "red"}, "colour", "Invalid 'colour'"),
    ({"story": 42}, "story", "Invalid 'story'"),
    ({}, "story", "Invalid 'story'"),
]


@pytest.mark.parametrize(("body", "param", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
async def test_create_refuses_bad_input_with_400(demo: Demo, body: dict, param: str, message: str) -> None:
    await demo.start()
    async with aiohttp.ClientSession() as http, http.post(f"{demo.url}/v1/storyboards", json=body,
                                                          headers=auth()) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert message in error["message"]
    if param == "model" and "no-such" in message:
        assert error["code"] == "model_not_found"


async def test_other_bad_calls(demo: Demo) -> None:
    await demo.start()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{demo.url}/v1/storyboards", data=b"{not json", headers=auth()) as response:
            assert response.status == 400 and "not valid JSON" in (await response.json())["error"]["message"]
        async with http.post(f"{demo.url}/v1/storyboards", json={"story": STORY}) as response:
            assert response.status == 401 and (await response.json())["error"]["code"] == "invalid_api_key"
        async with http.get(f"{demo.url}/v1/storyboards/sb_nope", headers=auth()) as response:
            assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
        async with http.get(f"{demo.url}/v1/storyboards?limit=0", headers=auth()) as response:
            assert response.status == 400 and (await response.json())["error"]["param"] == "limit"
        async with http.post(f"{demo.url}/v1/storyboards", json={"story": STORY, "scenes": 2}, headers=auth()) as r:
            sb_id = (await r.json())["id"]
        await wait_for(http, f"{demo.url}/v1/storyboards/{sb_id}")
        base = f"{demo.url}/v1/storyboards/{sb_id}"
        async with http.post(f"{base}/approve", json={}, headers=auth()) as response:
            assert response.status == 400 and (await response.json())["error"]["param"] == "scenes"
        async with http.post(f"{base}/approve", json={"scenes": [7]}, headers=auth()) as response:
            assert response.status == 404
        async with http.post(f"{base}/scenes/9/regenerate", headers=auth()) as response:
            assert response.status == 404
        async with http.post(f"{base}/scenes/0/regenerate", json={"prompt": ""}, headers=auth()) as response:
            assert response.status == 400 and (await response.json())["error"]["param"] == "prompt"
