"""reCAPTCHA: an anti-captcha style solver that issues tokens, and their verification (spec §1.6).

Solver surface (YesCaptcha / CapMonster / EzCaptcha / CapSolver JSON API):

* ``POST {base}/solver/createTask`` ``{"clientKey", "task": {"type", "websiteURL", "websiteKey",
  "pageAction", "userAgent"?, "minScore"?, "isEnterprise"?}}`` → ``{"errorId": 0, "taskId"}``.
* ``POST {base}/solver/getTaskResult`` ``{"clientKey", "taskId"}`` → ``{"errorId": 0, "status":
  "processing"}`` (``captcha_polls_to_ready`` times) then ``{"errorId": 0, "status": "ready",
  "solution": {"gRecaptchaResponse", "userAgent"}, ...}``.

Failures are anti-captcha errors (HTTP 200, ``errorId`` > 0). A token is bound to its action,
the project of its ``websiteURL`` and the solution UA; it is single-use and lives
``token_ttl_s`` from the moment it is ready. `CaptchaService.verify` enforces all of it for the
generation calls and answers the spec's 403 (`errors.recaptcha_failed`) on any violation.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from .errors import SolverError, recaptcha_failed
from .keys import CONTEXT, EMULATOR
from .settings import DEFAULT_USER_AGENT, PROJECT_PAGE_PREFIX, RECAPTCHA_SITE_KEY, EmulatorSettings

logger = logging.getLogger(__name__)

TASK_TYPES = frozenset({
    "RecaptchaV3TaskProxyless", "RecaptchaV3TaskProxylessM1", "RecaptchaV3TaskProxylessM1S7",
    "RecaptchaV3TaskProxylessM1S9", "ReCaptchaV3TaskProxylessS9", "ReCaptchaV3EnterpriseTaskProxyLess",
})
ACTIONS = ("IMAGE_GENERATION", "VIDEO_GENERATION")
_PAGE_RE = re.compile(re.escape(PROJECT_PAGE_PREFIX) + r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


@dataclass
class SolverTask:
    task_id: str
    action: str
    project_id: str
    user_agent: str
    created_at: float
    polls: int = 0
    token: str | None = None
    ready_at: float | None = None


@dataclass
class IssuedToken:
    value: str
    action: str
    project_id: str
    user_agent: str
    issued_at: float
    used: bool = False


def _new_token() -> str:
    # Real tokens are ~1-2 kB of base64url starting with "03A".
    return "03AFcWeA" + base64.urlsafe_b64encode(secrets.token_bytes(600)).rstrip(b"=").decode("ascii")


class CaptchaService:
    """Solver tasks and issued tokens of one emulator."""

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self.tasks: dict[str, SolverTask] = {}
        self.tokens: dict[str, IssuedToken] = {}

    # solver API ----------------------------------------------------------------------------
    def _check_key(self, body: dict[str, Any]) -> None:
        if not secrets.compare_digest(str(body.get("clientKey", "")).encode(), self.settings.solver_client_key.encode()):
            raise SolverError("ERROR_KEY_DOES_NOT_EXIST", "Account authorization key not found in the system")

    def create_task(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a ``createTask`` body and queue the task; returns the success body."""
        self._check_key(body)
        task = body.get("task")
        if not isinstance(task, dict):
            raise SolverError("ERROR_TASK_ABSENT", "Task property is empty or not set in createTask method")
        if task.get("type") not in TASK_TYPES:
            raise SolverError("ERROR_TASK_NOT_SUPPORTED", f"Task type {task.get('type')!r} is not supported")
        if task.get("websiteKey") != RECAPTCHA_SITE_KEY:
            raise SolverError("ERROR_RECAPTCHA_INVALID_SITEKEY", f"Invalid websiteKey {task.get('websiteKey')!r}")
        match = _PAGE_RE.match(str(task.get("websiteURL", "")))
        if not match:
            raise SolverError("ERROR_INCORRECT_SESSION_DATA",
                              f"websiteURL must be {PROJECT_PAGE_PREFIX}<projectId>, got {task.get('websiteURL')!r}")
        if task.get("pageAction") not in ACTIONS:
            raise SolverError("ERROR_INCORRECT_SESSION_DATA",
                              f"pageAction must be one of {', '.join(ACTIONS)}, got {task.get('pageAction')!r}")
        user_agent = task.get("userAgent") or DEFAULT_USER_AGENT
        if not isinstance(user_agent, str):
            raise SolverError("ERROR_INCORRECT_SESSION_DATA", "userAgent must be a string")
        solver_task = SolverTask(str(uuid.uuid4()), task["pageAction"], match.group(1), user_agent, self.clock())
        self.tasks[solver_task.task_id] = solver_task
        return {"errorId": 0, "taskId": solver_task.task_id}

    def task_result(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer ``getTaskResult``: processing until ``captcha_polls_to_ready`` calls were made."""
        self._check_key(body)
        task = self.tasks.get(str(body.get("taskId", "")))
        if task is None:
            raise SolverError("ERROR_NO_SUCH_CAPCHA_ID", "Task with this ID not found")
        task.polls += 1
        if task.token is None and task.polls <= self.settings.captcha_polls_to_ready:
            return {"errorId": 0, "status": "processing"}
        if task.token is None:
            task.ready_at = self.clock()
            issued = IssuedToken(_new_token(), task.action, task.project_id, task.user_agent, task.ready_at)
            self.tokens[issued.value] = issued
            task.token = issued.value
        assert task.ready_at is not None
        return {
            "errorId": 0, "status": "ready",
            "solution": {"gRecaptchaResponse": task.token, "userAgent": task.user_agent},
            "cost": "0.00200", "ip": "127.0.0.1", "createTime": int(task.created_at * 1000),
            "endTime": int(task.ready_at * 1000), "solveCount": 1,
        }

    # verification --------------------------------------------------------------------------
    def verify(self, recaptcha_context: dict[str, Any] | None, *, action: str, project_id: str,
               user_agent: str | None, forced_failure: bool = False) -> None:
        """Evaluate the token of a generation call; raise the 403 on any violation.

        A known token is consumed by its first evaluation, whatever the outcome.
        ``forced_failure`` (fault ``captcha_fail``) fails a token that would have passed.
        """
        token = (recaptcha_context or {}).get("token")
        if not token:
            raise recaptcha_failed("missing-token")
        issued = self.tokens.get(token)
        if issued is None:
            raise recaptcha_failed("unknown-token")
        if issued.used:
            raise recaptcha_failed("token-reused")
        issued.used = True
        if self.clock() > issued.issued_at + self.settings.token_ttl_s:
            raise recaptcha_failed("token-expired")
        if issued.action != action:
            raise recaptcha_failed(f"wrong-action: token for {issued.action}, call needs {action}")
        if issued.project_id != project_id:
            raise recaptcha_failed(f"wrong-project: token for {issued.project_id}, call uses {project_id}")
        if user_agent != issued.user_agent:
            raise recaptcha_failed("user-agent-mismatch")
        if forced_failure:
            raise recaptcha_failed("fault-injected")


async def solver_endpoint(request: web.Request) -> web.Response:
    """``POST {base}/solver/createTask`` | ``/solver/getTaskResult`` (anti-captcha JSON API, §1.6)."""
    ctx = request[CONTEXT]
    if ctx.operation not in ("createTask", "getTaskResult"):
        raise SolverError("ERROR_BAD_REQUEST", f"Unknown method {request.path}", http_status=404)
    if not ctx.method_ok:
        raise SolverError("ERROR_BAD_REQUEST", "Use POST with a JSON body", http_status=405)
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SolverError("ERROR_BAD_REQUEST", "The request body must be a JSON object")
    service = request.app[EMULATOR].captcha
    answer = service.create_task(body) if ctx.operation == "createTask" else service.task_result(body)
    return web.json_response(answer)
