"""Upstream errors in words (issue 19 item 9): what failed, the operation and status in parentheses, what to do.

Each case injects a fault into the labs.google emulator and reads the message the API client gets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openai
import pytest
from videofx_helpers import user

from flow2api_videofx import client, client_images, client_videos, video_plan
from flow2api_videofx.wire import OPERATION_ACTIONS

IMAGE_MODEL = "gemini-3.1-flash-image-landscape"

CASES = [
    pytest.param({"kind": "status", "status": 404, "operation": "batchGenerateImages",
                  "message": "Requested entity was not found: project"},
                 ["labs.google could not find the project (batchGenerateImages, NOT_FOUND: Requested entity was not "
                  "found: project): the account's project was deleted upstream",
                  "retrying on a new project failed too; re-add the account"], id="project-gone-twice"),
    pytest.param({"kind": "captcha_fail", "operation": "batchGenerateImages"},
                 ["labs.google could not generate the images (batchGenerateImages, PERMISSION_DENIED: "
                  "PUBLIC_ERROR_UNUSUAL_ACTIVITY", "check the reCAPTCHA solver"], id="captcha"),
    pytest.param({"kind": "status", "status": 429, "operation": "batchGenerateImages"},
                 ["labs.google could not generate the images (batchGenerateImages, RESOURCE_EXHAUSTED",
                  "out of credits or rate limited"], id="quota"),
    pytest.param({"kind": "status", "status": 503, "operation": "batchGenerateImages"},
                 ["labs.google could not generate the images (batchGenerateImages, UNAVAILABLE",
                  "a temporary failure at Google; retry"], id="unavailable"),
    pytest.param({"kind": "status", "status": 500, "operation": "project.createProject"},
                 ["labs.google could not create a project (project.createProject, HTTP 500"], id="trpc"),
]


@pytest.mark.parametrize(("fault", "expected"), CASES)
async def test_an_upstream_failure_reads_in_words(start_gateway: Any, fault: dict, expected: list[str]) -> None:
    gw = await start_gateway(flow={"project_pool_size": 1})
    await gw.add_account("words@example.com")
    gw.upstream.emulator.faults.add(fault)
    with pytest.raises(openai.APIStatusError) as raised:
        await gw.sdk().chat.completions.create(model=IMAGE_MODEL, messages=user("a kite"))
    message = raised.value.body["message"] if isinstance(raised.value.body, dict) else str(raised.value)
    for part in expected:
        assert part in message
    assert " failed: " not in message  # the old "Flow batchGenerateImages failed: NOT_FOUND"


def test_every_operation_the_videofx_client_names_has_words() -> None:
    """The same for the labs.google operations the VideoFX client passes to the error classifier."""
    names: set[str] = set()
    for module in (client, client_images, client_videos, video_plan):
        text = Path(module.__file__).read_text(encoding="utf-8")
        names |= set(re.findall(r'self\._call\(\s*"([^"]+)"', text)) | set(re.findall(r'op = "([^"]+)"', text))
        names |= set(re.findall(r'"(batchAsyncGenerateVideo[A-Za-z]+)"', text))
    assert names and names <= set(OPERATION_ACTIONS)
