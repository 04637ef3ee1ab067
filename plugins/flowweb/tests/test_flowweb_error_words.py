"""Upstream errors in words (issue 19 item 9): what failed, the rpc id and status in parentheses, what to do.

Each case injects a fault into the flow.google.com emulator and reads the message the API client gets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from flowweb_helpers import FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, chat, flowweb_settings

import flow2api_flowweb.client as client
from flow2api_flowweb.rpcs import RPC_ACTIONS

CASES = [
    pytest.param({"kind": "project_gone", "operation": "ogiZ0b"},
                 ["flow.google.com could not find the project (rpc ogiZ0b, NOT_FOUND: project ",
                  "the account's project was deleted upstream",
                  "retrying on a new project failed too; re-add the account"], id="project-gone-twice"),
    pytest.param({"kind": "rpc_error", "code": 5, "operation": "ogiZ0b"},
                 ["flow.google.com could not generate the images (rpc ogiZ0b, NOT_FOUND)",
                  "though its project exists"], id="not-found"),
    pytest.param({"kind": "captcha_fail", "operation": "ogiZ0b"},
                 ["flow.google.com could not generate the images (rpc ogiZ0b, PERMISSION_DENIED: "
                  "PUBLIC_ERROR_UNUSUAL_ACTIVITY", "check the reCAPTCHA solver"], id="captcha"),
    pytest.param({"kind": "rpc_error", "code": 8, "aitk": 2, "operation": "ogiZ0b"},
                 ["(rpc ogiZ0b, RESOURCE_EXHAUSTED: USER_QUOTA_REACHED)", "out of credits or rate limited"],
                 id="quota"),
    pytest.param({"kind": "status", "status": 503, "operation": "ogiZ0b"},
                 ["flow.google.com could not generate the images (rpc ogiZ0b, HTTP 503)",
                  "a temporary failure at Google"], id="http-503"),
    pytest.param({"kind": "rpc_error", "code": 3, "operation": "jHPbke"},
                 ["flow.google.com could not create a project (rpc jHPbke, INVALID_ARGUMENT)", "update flow2api"],
                 id="bad-arguments"),
]


@pytest.mark.parametrize(("fault", "expected"), CASES)
async def test_an_upstream_failure_reads_in_words(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable,
                                                  fault: dict, expected: list[str]) -> None:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, project_pool_size=1), FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("words@example.com", tier=2, credits=10_000))
    flowweb.emulator.faults.add(fault)
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(gateway, "fw-image", "a kite")
    message = raised.value.body["message"] if isinstance(raised.value.body, dict) else str(raised.value)
    for part in expected:
        assert part in message, message
    assert " failed: " not in message  # the old "Flow ogiZ0b failed: NOT_FOUND"


def test_every_rpc_the_client_calls_has_words() -> None:
    """No message reads "could not run <rpc id>" for an rpc the client sends (spec §4 names them all)."""
    source = Path(client.__file__).read_text(encoding="utf-8")
    called = set(re.findall(r'self\.call\("([A-Za-z0-9]+)"', source)) | set(client.VIDEO_RPCS.values())
    assert called and called <= set(RPC_ACTIONS)

