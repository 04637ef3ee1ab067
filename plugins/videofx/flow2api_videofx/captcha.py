"""reCAPTCHA Enterprise token sources (spec §1.6): anti-captcha-style solver APIs, and "none".

A source returns a :class:`CaptchaToken`: the token plus the User-Agent it was
solved with, which the Flow request must then send (spec §1.6 "UA
consistency"). :class:`TokenChain` tries the configured sources in order and
raises ``CaptchaError`` when none produced a token. Each generation attempt
asks for a fresh token; tokens are single-use.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from flow2api.errors import CaptchaError
from flow2api_videofx.config import CaptchaConfig

log = logging.getLogger(__name__)

SITE_KEY = "6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV"


@dataclass(frozen=True, slots=True)
class CaptchaToken:
    """A solved token and the User-Agent to submit it with (``None`` = keep ours)."""

    token: str
    user_agent: str | None

    def __repr__(self) -> str:
        return f"CaptchaToken(user_agent={self.user_agent!r})"


class TokenSource(Protocol):
    """One way to get a token for ``page_url`` and ``action`` (``IMAGE_GENERATION`` / ``VIDEO_GENERATION``)."""

    name: str

    async def solve(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None: ...


class NoCaptcha:
    """For upstreams that do not ask for reCAPTCHA: no token (requests carry none)."""

    name = "none"

    async def solve(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:
        return None


class AntiCaptchaApi:
    """A solver with the anti-captcha JSON API (YesCaptcha, CapMonster, EzCaptcha, CapSolver): spec §1.6.

    ``createTask`` then ``getTaskResult`` every ``poll_interval`` seconds, at
    most ``max_polls`` times. ``min_score`` is added for YesCaptcha's ``*S7``/``*S9`` task types.
    """

    def __init__(
        self, name: str, *, base_url: str, api_key: str, task_type: str, poll_interval: float, max_polls: int,
        enterprise_flag: bool = False,
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._task_type = task_type
        self._poll_interval = poll_interval
        self._max_polls = max_polls
        self._enterprise_flag = enterprise_flag

    async def _post(self, http: aiohttp.ClientSession, path: str, body: dict) -> dict:
        try:
            async with http.post(f"{self._base}/{path}", json=body, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                reply = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CaptchaError(f"the {self.name} solver could not be reached: {type(exc).__name__}") from exc
        if not isinstance(reply, dict):
            raise CaptchaError(f"the {self.name} solver answered with an unexpected body")
        return reply

    async def solve(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:
        task: dict[str, object] = {
            "type": self._task_type, "websiteURL": page_url, "websiteKey": SITE_KEY, "pageAction": action,
            "userAgent": user_agent,
        }
        if self._task_type.endswith("S7"):
            task["minScore"] = 0.7
        elif self._task_type.endswith("S9"):
            task["minScore"] = 0.9
        if self._enterprise_flag:
            task["isEnterprise"] = True
        created = await self._post(http, "createTask", {"clientKey": self._key, "task": task})
        if created.get("errorId"):
            raise CaptchaError(f"the {self.name} solver refused the task: {created.get('errorCode', 'unknown error')}")
        task_id = created.get("taskId")
        for _ in range(self._max_polls):
            await asyncio.sleep(self._poll_interval)
            result = await self._post(http, "getTaskResult", {"clientKey": self._key, "taskId": task_id})
            if result.get("errorId"):
                raise CaptchaError(f"the {self.name} solver failed: {result.get('errorCode', 'unknown error')}")
            if result.get("status") == "ready":
                solution = result.get("solution") or {}
                token = solution.get("gRecaptchaResponse")
                if not token:
                    raise CaptchaError(f"the {self.name} solver returned no token")
                return CaptchaToken(token, solution.get("userAgent") or None)
        raise CaptchaError(f"the {self.name} solver gave no token within {self._max_polls} polls")


def build_source(method: str, config: CaptchaConfig) -> TokenSource:
    """The token source for one ``captcha_method`` name; ``ValueError`` when its API key is missing."""
    if method == "none":
        return NoCaptcha()
    key = getattr(config, f"{method}_api_key").get_secret_value()
    if not key:
        raise ValueError(f"[captcha] {method}_api_key is required for captcha_method = {method!r}")
    task_types = {
        "yescaptcha": config.yescaptcha_task_type,
        "capmonster": "RecaptchaV3TaskProxyless",
        "ezcaptcha": "ReCaptchaV3TaskProxylessS9",
        "capsolver": "ReCaptchaV3EnterpriseTaskProxyLess",
    }
    return AntiCaptchaApi(
        method, base_url=getattr(config, f"{method}_base_url"), api_key=key, task_type=task_types[method],
        poll_interval=config.solver_poll_interval, max_polls=config.solver_max_polls,
    )


class TokenChain:
    """The configured sources, first ``captcha_method`` then ``fallback_methods``; each failure moves to the next."""

    def __init__(self, sources: list[TokenSource]) -> None:
        self.sources = sources

    @classmethod
    def from_config(cls, config: CaptchaConfig) -> TokenChain:
        """Build the chain; sources whose API key is missing are left out (logged once)."""
        sources: list[TokenSource] = []
        for method in [config.captcha_method, *config.fallback_methods]:
            try:
                sources.append(build_source(method, config))
            except ValueError as exc:
                log.warning("reCAPTCHA source skipped: %s", exc)
        return cls(sources)

    async def token(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:
        """A fresh token from the first source that gives one; ``CaptchaError`` listing why each failed."""
        if not self.sources:
            raise CaptchaError("no reCAPTCHA source is configured: set [captcha] captcha_method and its API key")
        reasons = []
        for source in self.sources:
            try:
                return await source.solve(http, page_url=page_url, action=action, user_agent=user_agent)
            except CaptchaError as exc:
                reasons.append(exc.message)
        raise CaptchaError("no reCAPTCHA token could be obtained: " + "; ".join(reasons))
