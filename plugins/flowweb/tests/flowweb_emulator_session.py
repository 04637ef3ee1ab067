"""A raw client of the flow.google.com emulator for its own tests: one account's batchexecute calls, a clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from flow2api_flowweb.emulator import EmulatorSettings, FlowWebEmulator, SITE_KEY
from flow2api_flowweb.envelope import (
    CAPTCHA_PLACEHOLDER,
    RPC_PATH,
    RpcRequest,
    build_body,
    build_freq,
    build_query,
    fill_captcha,
    parse_reply,
)
from flow2api_flowweb.layouts import Layout

LAYOUT = Layout()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Session:
    """A raw batchexecute client of one emulator account (cookies sent as a browser would)."""

    def __init__(self, http: TestClient, emulator: FlowWebEmulator, email: str) -> None:
        self.http, self.emulator, self.email = http, emulator, email
        self.cookies = "; ".join(f"{k}={v}" for k, v in emulator.account(email).cookies.items())

    @property
    def at(self) -> str:
        return self.emulator.account(self.email).at

    async def page(self, path: str, *, cookies: bool = True) -> Any:
        return await self.http.get(path, headers={"Cookie": self.cookies} if cookies else {}, allow_redirects=False)

    async def call(self, rpcid: str, args: Any, *, project: str | None = None, at: str | None = "current",
                   token: str | None = None, headers: dict[str, str] | None = None, cookies: bool = True) -> Any:
        freq = build_freq([RpcRequest(rpcid, args)])
        if CAPTCHA_PLACEHOLDER in freq:
            freq = fill_captcha(freq, token if token is not None else await self.token(project, rpcid))
        query = build_query([rpcid], source_path=f"/project/{project}" if project else "/", bl="boq_labs-ai-sandbox-frontend_x",
                            f_sid="-1", hl="en", reqid=1234)
        sent = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8", "X-Same-Domain": "1"}
        if cookies:
            sent["Cookie"] = self.cookies
        sent.update(headers or {})
        return await self.http.post(RPC_PATH, params=query, data=build_body(freq, self.at if at == "current" else at),
                                    headers=sent)

    async def token(self, project: str | None, rpcid: str) -> str:
        action = "VIDEO_GENERATION" if rpcid in ("YhhmEf", "eb1hJf", "nprQif", "MZZa6b", "fZytfe", "p0UkFb", "jIps6") else \
            "IMAGE_GENERATION"
        resp = await self.http.post(f"/recaptcha/enterprise/reload?k={SITE_KEY}",
                                    json={"action": action, "page": f"/project/{project}"})
        return (await resp.json())["token"]

    async def payload(self, rpcid: str, args: Any, **kwargs: Any) -> Any:
        resp = await self.call(rpcid, args, **kwargs)
        reply = parse_reply(resp.status, await resp.text())
        result = reply.results[rpcid][0]
        return result.payload if result.payload is not None else ("error", result.status, resp.headers.get("X-Emulator-Detail"))

    async def project(self) -> str:
        return (await self.payload("jHPbke", LAYOUT.create_project("p")))[0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> FlowWebEmulator:
    return FlowWebEmulator(EmulatorSettings(video_polls_to_finish=2), clock=clock)


@pytest.fixture
async def session(aiohttp_client: Callable, emulator: FlowWebEmulator) -> Session:
    emulator.add_account("alice@example.com", tier=1, credits=100)
    return Session(await aiohttp_client(emulator.app()), emulator, "alice@example.com")
