"""Pages, the stand-in reCAPTCHA and the solver of the flow.google.com emulator (spec §1, §2.5, §8).

* ``GET /`` — the SPA shell with ``WIZ_global_data``: ``SNlM0e`` (``at``) and ``oPEP7c``
  (e-mail) only when signed in, ``FdrFJe``, ``cfb2h``, ``xZbWve`` always, and an ``AIQ-…``
  decoy (spec §2.5). No reCAPTCHA script: minting on the grid fails (spec §8).
* ``GET /project/<pid>`` — signed out → 302 ``/about``; a project the account cannot open →
  302 ``/404?reason=project``; else the shell plus ``/recaptcha/enterprise.js?render=<key>``.
* ``GET /accounts/SetOSID?continue=…`` — SSO cookies → ``Set-Cookie: OSID`` and 302 back.
* ``/recaptcha/enterprise.js`` defines ``grecaptcha.enterprise.{ready,execute}``; ``execute``
  POSTs ``/recaptcha/enterprise/reload?k=<site key>`` ``{"action", "page"}`` → ``{"token"}``,
  a token bound to the action and the project of the page.
* ``/solver/createTask`` · ``/solver/getTaskResult`` — anti-captcha JSON API; ``websiteURL``
  must be a project page (``https://flow.google.com/project/<pid>`` or this origin's).
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlsplit

from aiohttp import web

from .app import emulator_of, request_account
from .settings import BUILD_LABEL, SITE_KEY
from .state import EmulatorAccount

_PROJECT_PATH = re.compile(r"^(?:/u/\d+)?/project/([0-9a-f-]{36})(?:/.*)?$")
_TASK_TYPES = frozenset({
    "RecaptchaV3TaskProxylessM1", "RecaptchaV3TaskProxylessM1S7", "RecaptchaV3TaskProxylessM1S9",
    "RecaptchaV3TaskProxyless", "ReCaptchaV3TaskProxylessS9", "ReCaptchaV3EnterpriseTaskProxyLess",
})

ENTERPRISE_JS = """(function () {
  // Stand-in for https://www.google.com/recaptcha/enterprise.js (flow2api flowweb emulator).
  async function mint(siteKey, action) {
    const reply = await fetch('/recaptcha/enterprise/reload?k=' + encodeURIComponent(siteKey), {
      method: 'POST', credentials: 'include', headers: {'content-type': 'application/json'},
      body: JSON.stringify({action: action, page: location.pathname})});
    if (!reply.ok) throw new Error('reCAPTCHA reload failed: HTTP ' + reply.status);
    return (await reply.json()).token;
  }
  window.grecaptcha = window.grecaptcha || {};
  window.grecaptcha.enterprise = {
    ready: function (callback) { setTimeout(callback, 0); },
    execute: function (siteKey, options) { return mint(siteKey, (options || {}).action || ''); },
  };
})();
"""


def _shell(request: web.Request, account: EmulatorAccount | None, *, recaptcha: bool) -> web.Response:
    emulator = emulator_of(request)
    wiz: dict[str, object] = {
        "FdrFJe": account.f_sid if account else "-1702934825361046190", "cfb2h": BUILD_LABEL, "xZbWve": SITE_KEY,
        "qwAQke": "AiSandboxAngularFrontend", "Yllh3e": "AIQ-decoy-not-the-xsrf-token",
    }
    if account is not None:
        wiz["SNlM0e"] = emulator.current_at(account)
        wiz["oPEP7c"] = account.email
    script = f'<script src="/recaptcha/enterprise.js?render={SITE_KEY}"></script>' if recaptcha else ""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Flow</title>'
        f"<script>window.WIZ_global_data = {json.dumps(wiz)};</script>{script}"
        "</head><body><aisandbox-root><flow-app></flow-app></aisandbox-root></body></html>"
    )
    return web.Response(text=html, content_type="text/html")


def _signed_in(request: web.Request) -> EmulatorAccount | None:
    account = request_account(request)
    return account if account is not None and account.cookies_valid else None


async def page(request: web.Request) -> web.Response:
    """``/``, ``/u/<N>/`` and ``/project/<pid>[/…]``."""
    account = _signed_in(request)
    match = _PROJECT_PATH.match(request.path)
    if match is None:
        return _shell(request, account, recaptcha=False)
    if account is None:
        raise web.HTTPFound("/about")
    project = emulator_of(request).world.projects.get(match.group(1))
    if project is None or project.owner != account.email:
        raise web.HTTPFound("/404?reason=project")
    return _shell(request, account, recaptcha=True)


async def about(request: web.Request) -> web.Response:
    """Where a signed-out browser lands."""
    return web.Response(text="<!doctype html><title>Flow</title><p>Sign in to use Flow.</p>", content_type="text/html")


async def not_found_page(request: web.Request) -> web.Response:
    """``/404?reason=project``."""
    return web.Response(status=404, text="<!doctype html><title>Flow</title><p>Not found.</p>", content_type="text/html")


async def set_osid(request: web.Request) -> web.Response:
    """``/accounts/SetOSID``: issue the app-session cookie to a valid SSO session (spec §1, §2.3)."""
    emulator = emulator_of(request)
    account = emulator.world.account_by_sso(dict(request.cookies))
    if account is None or not account.cookies_valid:
        raise web.HTTPFound("https://accounts.google.com/ServiceLogin?continue=https://flow.google.com/")
    target = urlsplit(request.query.get("continue", "/"))
    response = web.HTTPFound(target.path or "/")
    response.set_cookie("OSID", account.cookies["OSID"], path="/", secure=True, httponly=True)
    raise response


async def enterprise_js(request: web.Request) -> web.Response:
    """The stand-in reCAPTCHA Enterprise script."""
    return web.Response(text=ENTERPRISE_JS, content_type="application/javascript")


async def recaptcha_reload(request: web.Request) -> web.Response:
    """Mint a token: ``?k=<site key>``, body ``{"action", "page"}`` with ``page`` a project path."""
    emulator = emulator_of(request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if request.query.get("k") != SITE_KEY:
        return web.json_response({"error": "invalid site key"}, status=400)
    if not isinstance(body, dict) or not isinstance(body.get("action"), str) or not body["action"]:
        return web.json_response({"error": "missing action"}, status=400)
    match = _PROJECT_PATH.match(str(body.get("page") or ""))
    if match is None:
        return web.json_response({"error": "reCAPTCHA is not loaded on this page"}, status=400)
    return web.json_response({"token": emulator.mint_token(body["action"], match.group(1))})


def _solver_error(code: str, description: str) -> web.Response:
    return web.json_response({"errorId": 1, "errorCode": code, "errorDescription": description})


async def solver(request: web.Request) -> web.Response:
    """``createTask`` / ``getTaskResult`` of the anti-captcha JSON API."""
    emulator = emulator_of(request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("clientKey") != emulator.settings.solver_client_key:
        return _solver_error("ERROR_KEY_DOES_NOT_EXIST", "Account authorization key not found")
    method = request.match_info["method"]
    if method == "createTask":
        task = body.get("task") if isinstance(body.get("task"), dict) else {}
        if task.get("type") not in _TASK_TYPES:
            return _solver_error("ERROR_TASK_NOT_SUPPORTED", "Task type is not supported")
        if task.get("websiteKey") != SITE_KEY:
            return _solver_error("ERROR_RECAPTCHA_INVALID_SITEKEY", "Invalid site key")
        url = urlsplit(str(task.get("websiteURL") or ""))
        match = _PROJECT_PATH.match(url.path)
        hosts = {"flow.google.com", request.host}
        if match is None or url.netloc not in hosts or not task.get("pageAction"):
            return _solver_error("ERROR_INCORRECT_SESSION_DATA", "websiteURL must be a Flow project page")
        task_id = str(uuid.uuid4())
        emulator.solver_tasks[task_id] = {"action": task["pageAction"], "project": match.group(1), "polls": 0,
                                          "userAgent": task.get("userAgent")}
        return web.json_response({"errorId": 0, "taskId": task_id})
    if method == "getTaskResult":
        task = emulator.solver_tasks.get(str(body.get("taskId")))
        if task is None:
            return _solver_error("ERROR_NO_SUCH_CAPCHA_ID", "Task not found")
        task["polls"] += 1
        if task["polls"] <= emulator.settings.captcha_polls_to_ready:
            return web.json_response({"errorId": 0, "status": "processing"})
        token = task.get("token") or emulator.mint_token(task["action"], task["project"])
        task["token"] = token
        return web.json_response({"errorId": 0, "status": "ready",
                                  "solution": {"gRecaptchaResponse": token, "userAgent": task.get("userAgent")}})
    return _solver_error("ERROR_METHOD_NOT_SUPPORTED", "Unknown method")
