"""reCAPTCHA Enterprise token sources (spec §1.6): the source protocol and the built-in sources.

A source returns a :class:`CaptchaToken`: the token plus the User-Agent it was
solved with, which the Flow request must then send (spec §1.6 "UA
consistency"). Tokens are single-use: callers ask for a fresh one for every
submission and every retry. Built-ins, each a factory ``(CaptchaConfig) ->
TokenSource`` registered under its name (see :mod:`flow2api_flowkit.captcha_chain`
for the registry, the ``flow2api.captcha`` entry-point group and the failover
chain). Both Flow families use them: VideoFX for labs.google, flowweb for
flow.google.com (the two hosts share :data:`SITE_KEY`).

============  ==============================  ===========================================
name          default base                    task ``type`` (spec §1.6 table)
============  ==============================  ===========================================
none          —                               no token (requests carry an empty one)
yescaptcha    https://api.yescaptcha.com      ``[captcha] yescaptcha_task_type`` (+minScore)
capmonster    https://api.capmonster.cloud    ``RecaptchaV3TaskProxyless``
ezcaptcha     https://api.ez-captcha.com      ``ReCaptchaV3TaskProxylessS9``
capsolver     https://api.capsolver.com       ``ReCaptchaV3EnterpriseTaskProxyLess``
============  ==============================  ===========================================
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, retry_if_result, stop_after_attempt, wait_fixed

from flow2api.errors import CaptchaError, SolverUnavailableError
from flow2api.plugin import PROXY_ERRORS
from flow2api_flowkit.config import CaptchaConfig

log = logging.getLogger(__name__)

#: The reCAPTCHA Enterprise site key of Flow's pages on labs.google and flow.google.com (spec §1.6).
SITE_KEY = "6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV"
NO_SLOT_CODES = frozenset({"ERROR_NO_SLOT_AVAILABLE", "ERROR_NO_SLOT_AVAILABLE_BLOCK"})


@dataclass(frozen=True, slots=True)
class CaptchaToken:
    """A solved token and the User-Agent to submit it with (``None`` = keep ours)."""

    token: str
    user_agent: str | None

    def __repr__(self) -> str:
        return f"CaptchaToken(user_agent={self.user_agent!r})"


class TokenSource(Protocol):
    """One way to get a token for ``page_url`` and ``action`` (``IMAGE_GENERATION`` / ``VIDEO_GENERATION``).

    ``solve`` returns ``None`` when the source deliberately gives no token
    (``none``) and raises ``CaptchaError`` when it failed; the message names
    the source and the solver's error code, never its API key.
    """

    name: str

    async def solve(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None: ...


class NoCaptcha:
    """For upstreams that do not ask for reCAPTCHA: no token (requests carry an empty one)."""

    name = "none"

    async def solve(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:
        """Always ``None``."""
        return None


class _SolveLostError(SolverUnavailableError):
    """This solve is lost (the task failed, or the solver could not be reached or read): a new task may work."""


def _no_free_slot(reply: dict) -> bool:
    return bool(reply.get("errorId")) and str(reply.get("errorCode") or "") in NO_SLOT_CODES


class AntiCaptchaApi:
    """A solver with the anti-captcha JSON API (YesCaptcha, CapMonster, EzCaptcha, CapSolver): spec §1.6.

    ``createTask`` then ``getTaskResult`` every ``poll_interval`` seconds, at
    most ``max_polls`` times. ``min_score`` is sent for YesCaptcha's
    ``*S7``/``*S9`` task types. ``no_slot_backoff`` lists the seconds to wait
    before each retry of a ``createTask`` answered ``ERROR_NO_SLOT_AVAILABLE``
    (``no_slot_block_backoff`` for ``…_BLOCK``); empty = no retry. A solve that
    is lost — the task failed on ``getTaskResult``, or the solver could not be
    reached or answered something unreadable — is started again with a new task
    ``poll_interval`` seconds later, ``attempts`` solves in all (our choice, not
    the spec's: the task is the solver's, the account has nothing to do with it).
    """

    def __init__(
        self, name: str, *, base_url: str, api_key: str, task_type: str, poll_interval: float, max_polls: int,
        min_score: float | None = None, no_slot_backoff: Sequence[float] = (), no_slot_block_backoff: float = 0.0,
        attempts: int = 1,
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._task_type = task_type
        self._poll_interval = poll_interval
        self._max_polls = max_polls
        self._min_score = min_score
        self._no_slot_backoff = tuple(no_slot_backoff)
        self._no_slot_block_backoff = no_slot_block_backoff
        self._attempts = max(1, attempts)

    def __repr__(self) -> str:  # the API key must never reach a log line
        return f"AntiCaptchaApi(name={self.name!r}, task_type={self._task_type!r})"

    async def _post(self, http: aiohttp.ClientSession, path: str, body: dict) -> dict:
        try:
            async with http.post(f"{self._base}/{path}", json=body, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                reply = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, *PROXY_ERRORS) as exc:
            raise _SolveLostError(f"the {self.name} solver could not be reached: {type(exc).__name__}") from exc
        if not isinstance(reply, dict):
            raise _SolveLostError(f"the {self.name} solver answered with an unexpected body")
        return reply

    def _no_slot_delay(self, reply: dict, retry: int) -> float:
        """Seconds before retry ``retry`` (0 = the first) of a ``createTask`` answered ``reply`` (no free slot)."""
        if retry >= len(self._no_slot_backoff):
            return 0.0  # tenacity asks for the wait before it checks the stop condition: no retry follows
        code = str(reply.get("errorCode"))
        delay = self._no_slot_block_backoff if code.endswith("_BLOCK") else self._no_slot_backoff[retry]
        log.info("%s solver has no free slot (%s); retry %d in %.1f s", self.name, code, retry + 1, delay)
        return delay

    # Both retry loops below enter tenacity only after a first failure: its machinery costs ~75 µs of CPU per
    # call even when the first try succeeds, and every generated image asks for a token (bench/hot_path.py).

    async def _create_task(self, http: aiohttp.ClientSession, task: dict[str, object]) -> dict:
        """``createTask``, retried with back-off while the solver has no free slot (spec §1.6); the last answer."""
        body = {"clientKey": self._key, "task": task}
        created = await self._post(http, "createTask", body)
        if not _no_free_slot(created) or not self._no_slot_backoff:
            return created
        await asyncio.sleep(self._no_slot_delay(created, 0))
        retrying = AsyncRetrying(
            retry=retry_if_result(_no_free_slot), stop=stop_after_attempt(len(self._no_slot_backoff)),
            wait=lambda state: self._no_slot_delay(state.outcome.result(), state.attempt_number),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        return await retrying(self._post, http, "createTask", body)

    async def solve(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:
        """Solve one token for ``page_url``/``action``, sending ``user_agent``.

        Raises ``SolverUnavailableError`` when the solver gave no token (unreachable, no free slot after the
        back-off, every task failed, no token within ``max_polls``) and a plain ``CaptchaError`` when it refused
        the task itself (e.g. ``ERROR_KEY_DOES_NOT_EXIST``, ``ERROR_ZERO_BALANCE``): retrying cannot help then.
        """
        task: dict[str, object] = {
            "type": self._task_type, "websiteURL": page_url, "websiteKey": SITE_KEY, "pageAction": action,
            "userAgent": user_agent,
        }
        if self._min_score is not None:
            task["minScore"] = self._min_score
        try:
            return await self._solve_once(http, task)
        except _SolveLostError as exc:
            if self._attempts == 1:
                raise
            log.info("%s solve lost (%s); starting a new task", self.name, exc.message)
        await asyncio.sleep(self._poll_interval)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_SolveLostError), stop=stop_after_attempt(self._attempts - 1),
            wait=wait_fixed(self._poll_interval), reraise=True,
            before_sleep=lambda state: log.info("%s solve lost again; starting a new task", self.name),
        )
        return await retrying(self._solve_once, http, task)

    async def _solve_once(self, http: aiohttp.ClientSession, task: dict[str, object]) -> CaptchaToken:
        created = await self._create_task(http, task)
        if _no_free_slot(created):
            raise SolverUnavailableError(f"the {self.name} solver has no free slot: {created.get('errorCode')}")
        if created.get("errorId"):
            raise CaptchaError(f"the {self.name} solver refused the task: {created.get('errorCode', 'unknown error')}")
        task_id = created.get("taskId")
        if not task_id:
            raise _SolveLostError(f"the {self.name} solver answered createTask without a taskId")
        for _ in range(self._max_polls):
            await asyncio.sleep(self._poll_interval)
            result = await self._post(http, "getTaskResult", {"clientKey": self._key, "taskId": task_id})
            if result.get("errorId"):
                raise _SolveLostError(f"the {self.name} solver failed: {result.get('errorCode', 'unknown error')}")
            if result.get("status") == "ready":
                solution = result.get("solution") if isinstance(result.get("solution"), dict) else {}
                token = solution.get("gRecaptchaResponse")
                if not token:
                    raise _SolveLostError(f"the {self.name} solver returned no token")
                return CaptchaToken(str(token), solution.get("userAgent") or None)
        raise SolverUnavailableError(f"the {self.name} solver gave no token within {self._max_polls} polls")


def _key(config: CaptchaConfig, method: str) -> str:
    key = getattr(config, f"{method}_api_key").get_secret_value()
    if not key:
        raise ValueError(f"[captcha] {method}_api_key is required for the {method!r} token source")
    return key


def _solving(config: CaptchaConfig) -> dict[str, Any]:
    """The settings every anti-captcha source shares: poll cadence and limit, solves per token."""
    return {"poll_interval": config.solver_poll_interval, "max_polls": config.solver_max_polls,
            "attempts": config.solver_attempts}


def none_source(config: CaptchaConfig) -> TokenSource:
    """``none``: no token."""
    return NoCaptcha()


def yescaptcha_source(config: CaptchaConfig) -> TokenSource:
    """``yescaptcha``: task type from settings, ``minScore`` 0.7/0.9 for ``*S7``/``*S9``, no-slot back-off."""
    task_type = config.yescaptcha_task_type
    min_score = 0.7 if task_type.endswith("S7") else 0.9 if task_type.endswith("S9") else None
    return AntiCaptchaApi(
        "yescaptcha", base_url=config.yescaptcha_base_url, api_key=_key(config, "yescaptcha"), task_type=task_type,
        min_score=min_score, **_solving(config),
        no_slot_backoff=config.yescaptcha_no_slot_backoff,
        no_slot_block_backoff=config.yescaptcha_no_slot_block_backoff,
    )


def capmonster_source(config: CaptchaConfig) -> TokenSource:
    """``capmonster``: ``RecaptchaV3TaskProxyless``."""
    return AntiCaptchaApi(
        "capmonster", base_url=config.capmonster_base_url, api_key=_key(config, "capmonster"),
        task_type="RecaptchaV3TaskProxyless", **_solving(config),
    )


def ezcaptcha_source(config: CaptchaConfig) -> TokenSource:
    """``ezcaptcha``: ``ReCaptchaV3TaskProxylessS9``."""
    return AntiCaptchaApi(
        "ezcaptcha", base_url=config.ezcaptcha_base_url, api_key=_key(config, "ezcaptcha"),
        task_type="ReCaptchaV3TaskProxylessS9", **_solving(config),
    )


def capsolver_source(config: CaptchaConfig) -> TokenSource:
    """``capsolver``: ``ReCaptchaV3EnterpriseTaskProxyLess``."""
    return AntiCaptchaApi(
        "capsolver", base_url=config.capsolver_base_url, api_key=_key(config, "capsolver"),
        task_type="ReCaptchaV3EnterpriseTaskProxyLess", **_solving(config),
    )
