"""The page bootstrap: ``at``, ``f.sid``, ``bl`` and the reCAPTCHA site key from a Flow page (spec §2.5).

Every ``flow.google.com`` page inlines ``window.WIZ_global_data``: ``SNlM0e`` (the XSRF value
sent as ``at``), ``FdrFJe`` (``f.sid``), ``cfb2h`` (``bl``) and ``xZbWve`` (site key). The
off-browser recipe of spec §2.5: GET the page with the cookies; 401/403, or a redirect to
``/about`` or off the Flow host, means the cookies are dead; then read the values.
``oPEP7c`` (the signed-in e-mail, as in other Google WIZ apps) is read when present; the spec
does not list it.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp

from flow2api.errors import (
    CredentialRejectedError,
    NotFoundError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api_flowweb.config import FlowWebConfig
from flow2api_flowweb.cookies import absorb_set_cookies, cookie_header

log = logging.getLogger(__name__)

_WIZ = re.compile(r"WIZ_global_data\s*=\s*\{")
_KEYS = {
    "SNlM0e": re.compile(r'"SNlM0e"\s*:\s*"([^"]+)"'),
    "FdrFJe": re.compile(r'"FdrFJe"\s*:\s*"(-?[0-9]+)"'),
    "cfb2h": re.compile(r'"cfb2h"\s*:\s*"([^"]+)"'),
    "xZbWve": re.compile(r'"xZbWve"\s*:\s*"([^"]+)"'),
    "oPEP7c": re.compile(r'"oPEP7c"\s*:\s*"([^"]+)"'),
}
_BUILD_LABEL = re.compile(r"boq_labs-ai-sandbox-frontend_[A-Za-z0-9_.-]+")
_LANG = re.compile(r"<html[^>]*\blang=\"([A-Za-z-]+)\"", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """Values read from one page load; ``at`` is a secret (kept out of ``repr``). ``fetched_at`` Unix seconds."""

    at: str
    f_sid: str
    bl: str
    site_key: str | None
    email: str | None
    hl: str | None
    fetched_at: float

    def __repr__(self) -> str:
        return f"Bootstrap(bl={self.bl!r}, site_key={self.site_key!r}, email={self.email!r})"


def wiz_values(html: str) -> dict[str, str]:
    """The WIZ keys flowweb uses, read from the inlined object (JSON first, per-key regex as fallback)."""
    values: dict[str, str] = {}
    match = _WIZ.search(html)
    if match:
        try:
            data, _ = json.JSONDecoder().raw_decode(html, match.end() - 1)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            values = {k: str(v) for k, v in data.items() if k in _KEYS and isinstance(v, (str, int))}
    for key, pattern in _KEYS.items():
        if key not in values:
            found = pattern.search(html)
            if found:
                values[key] = found.group(1)
    if "cfb2h" not in values:
        label = _BUILD_LABEL.search(html)  # kaiyuc's fallback (spec §2.5)
        if label:
            values["cfb2h"] = label.group(0)
    return values


def parse_bootstrap(html: str, *, now: float | None = None) -> Bootstrap:
    """A :class:`Bootstrap` from page HTML.

    ``CredentialRejectedError`` when the page carries no XSRF value (signed out);
    ``UpstreamProtocolError`` naming the WIZ key when ``f.sid`` or ``bl`` is missing.
    """
    values = wiz_values(html)
    if not values.get("SNlM0e"):
        raise CredentialRejectedError("the Flow page has no XSRF token (WIZ SNlM0e): the cookies are not signed in")
    for key, name in (("FdrFJe", "f.sid"), ("cfb2h", "bl")):
        if not values.get(key):
            raise UpstreamProtocolError(f"the Flow page has no WIZ_global_data.{key} ({name}); upstream changed?")
    lang = _LANG.search(html)
    return Bootstrap(
        at=values["SNlM0e"], f_sid=values["FdrFJe"], bl=values["cfb2h"], site_key=values.get("xZbWve"),
        email=values.get("oPEP7c"), hl=lang.group(1) if lang else None,
        fetched_at=time.time() if now is None else now,
    )


async def fetch_page(
    session: aiohttp.ClientSession, config: FlowWebConfig, jar: http.cookiejar.CookieJar, path: str,
) -> tuple[Bootstrap, bool]:
    """GET the page at ``path`` with the jar's cookies and read its bootstrap; returns (bootstrap, jar changed).

    Follows same-host redirects (up to 3, absorbing ``Set-Cookie``, e.g. ``/accounts/SetOSID``).
    Raises ``CredentialRejectedError`` (401/403, ``/about`` or an off-host redirect), ``NotFoundError``
    (``/404?reason=project``), ``UpstreamUnavailableError``/``UpstreamTimeoutError`` (5xx, network).
    """
    origin = config.origin
    cookie_origin = config.cookie_url.rstrip("/")
    changed = False
    for _ in range(4):
        headers = {
            "User-Agent": config.user_agent, "Referer": f"{origin}/", "Accept": "text/html,*/*;q=0.8",
            "Accept-Language": "en-US,en;q=0.9",
        }
        cookie = cookie_header(jar, cookie_origin + path)
        if cookie:
            headers["Cookie"] = cookie
        try:
            async with session.get(origin + path, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=config.control_timeout)) as resp:
                status, location = resp.status, resp.headers.get("Location")
                changed |= absorb_set_cookies(jar, cookie_origin + path, resp.headers.getall("Set-Cookie", []))
                html = await resp.text(errors="replace") if status == 200 else ""
        except TimeoutError as exc:
            raise UpstreamTimeoutError(f"the Flow page did not answer within {config.control_timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(f"the Flow page could not be loaded: {type(exc).__name__}") from exc
        if status in (401, 403):
            raise CredentialRejectedError(f"the Flow page answered HTTP {status}: the cookies are expired or revoked")
        if status >= 500:
            raise UpstreamUnavailableError(f"the Flow page answered HTTP {status}")
        if 300 <= status < 400 and location:
            target = urlsplit(urljoin(origin + path, location))
            if target.netloc and target.netloc != urlsplit(origin).netloc:
                raise CredentialRejectedError("the Flow page redirects to sign-in: the cookies are expired or revoked")
            if target.path.startswith("/about"):
                raise CredentialRejectedError("the Flow page redirects to /about: the cookies are not signed in")
            if target.path.startswith("/404"):
                raise NotFoundError("the Flow project page does not exist for this account")
            path = target.path + (f"?{target.query}" if target.query else "")
            continue
        if status != 200:
            raise UpstreamProtocolError(f"the Flow page answered HTTP {status} (upstream changed?)")
        return parse_bootstrap(html), changed
    raise UpstreamProtocolError("the Flow page redirected too often")
