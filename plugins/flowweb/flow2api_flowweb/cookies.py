"""The Google cookie jar of a flowweb account: import, check, store, and the ``Cookie`` header (spec §2.3).

Imports a Netscape ``cookies.txt`` (read by :class:`http.cookiejar.MozillaCookieJar`) or the
JSON export of the common cookie-export extensions: a list of objects with ``name``,
``value``, ``domain``, ``path``, ``secure``, ``httpOnly``, ``hostOnly`` and ``expirationDate``
(EditThisCookie, Cookie-Editor), ``expires`` (Playwright ``storage_state``, also accepted as
``{"cookies": [...]}``) or ``expiry`` (Selenium).

Which cookies go with a request is decided by :mod:`http.cookiejar` for the *cookie URL*
(``https://flow.google.com/…``: domain, path, secure and expiry rules, as a browser would,
spec §2.3), whatever host the request is really sent to (the emulator in tests).

A jar is usable when the cookies sent to the cookie URL hold ``OSID`` or ``__Secure-OSID`` and
at least one Google SSO cookie (the 3YBrown/flow2api validator, spec §2.3). Stored as JSON in
the account's encrypted secrets (``secrets["cookies"]``); values never reach a log or message.
"""

from __future__ import annotations

import email.message
import http.cookiejar
import json
import os
import tempfile
import urllib.request
from collections.abc import Iterable
from typing import Any

from flow2api.errors import InvalidRequestError

APP_COOKIES = ("OSID", "__Secure-OSID")
SSO_COOKIES = ("SID", "HSID", "SSID", "APISID", "SAPISID", "__Secure-1PSID", "__Secure-3PSID")


def _cookie(name: str, value: str, domain: str, path: str, secure: bool, expires: float | None,
            http_only: bool, host_only: bool) -> http.cookiejar.Cookie:
    if not host_only and not domain.startswith("."):
        domain = "." + domain
    dotted = domain.startswith(".")
    return http.cookiejar.Cookie(
        version=0, name=name, value=value, port=None, port_specified=False, domain=domain,
        domain_specified=dotted, domain_initial_dot=dotted, path=path or "/", path_specified=True,
        secure=secure, expires=int(expires) if expires else None, discard=not expires, comment=None,
        comment_url=None, rest={"HttpOnly": ""} if http_only else {},
    )


def _from_json(items: Iterable[Any]) -> http.cookiejar.CookieJar:
    jar = http.cookiejar.CookieJar()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
            raise InvalidRequestError(f"cookie #{i + 1} of the JSON export has no name/value", param="cookies")
        domain = str(item.get("domain") or "")
        if not domain:
            raise InvalidRequestError(f"cookie {item['name']!r} of the JSON export has no domain", param="cookies")
        expires = item.get("expirationDate", item.get("expires", item.get("expiry")))
        expires = float(expires) if isinstance(expires, (int, float)) and expires > 0 else None
        host_only = bool(item.get("hostOnly", not domain.startswith(".")))
        jar.set_cookie(_cookie(
            item["name"], str(item["value"]), domain, str(item.get("path") or "/"), bool(item.get("secure")),
            expires, bool(item.get("httpOnly")), host_only,
        ))
    return jar


def _from_netscape(text: str) -> http.cookiejar.CookieJar:
    # MozillaCookieJar reads only files; the text is written to a private temporary file and removed at once.
    text = text.replace("\r\n", "\n")
    for number, line in enumerate(text.splitlines(), 1):
        data = line[len("#HttpOnly_"):] if line.startswith("#HttpOnly_") else line
        if data.strip() and not data.startswith("#") and len(data.split("\t")) != 7:
            # checked here because MozillaCookieJar only warns about malformed lines
            raise InvalidRequestError(f"line {number} of the cookie file is not a Netscape cookie line "
                                      "(7 tab-separated fields)", param="cookies")
    jar = http.cookiejar.MozillaCookieJar()
    fd, path = tempfile.mkstemp(prefix="flow2api-cookies-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if not text.lstrip().startswith("# "):
                handle.write("# Netscape HTTP Cookie File\n")  # MozillaCookieJar insists on the magic first line
            handle.write(text)
        jar.load(path, ignore_discard=True, ignore_expires=True)
    except http.cookiejar.LoadError:
        raise InvalidRequestError("the cookie file is neither a Netscape cookies.txt nor a JSON cookie export",
                                  param="cookies") from None
    finally:
        os.unlink(path)
    return jar


def parse_cookies(text: str) -> http.cookiejar.CookieJar:
    """A jar from a Netscape cookies.txt or a JSON cookie export; ``InvalidRequestError`` when it is neither."""
    stripped = text.strip()
    if not stripped:
        raise InvalidRequestError("the cookie file is empty", param="cookies")
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            raise InvalidRequestError("the cookie file is not valid JSON", param="cookies") from None
        if isinstance(data, dict):
            data = data.get("cookies")
        if not isinstance(data, list):
            raise InvalidRequestError("a JSON cookie export must be a list of cookies (or {\"cookies\": [...]})",
                                      param="cookies")
        return _from_json(data)
    return _from_netscape(stripped + "\n")


def dump_jar(jar: http.cookiejar.CookieJar) -> str:
    """The jar as compact JSON (the stored secret); expired cookies are dropped."""
    items = []
    for c in jar:
        if c.is_expired():
            continue
        items.append({
            "name": c.name, "value": c.value, "domain": c.domain, "path": c.path, "secure": c.secure,
            "expires": c.expires, "httpOnly": c.has_nonstandard_attr("HttpOnly"),
            "hostOnly": not c.domain_initial_dot,
        })
    return json.dumps(items, separators=(",", ":"))


def load_jar(stored: str) -> http.cookiejar.CookieJar:
    """The jar stored by :func:`dump_jar` (an empty jar for an empty string)."""
    return _from_json(json.loads(stored)) if stored else http.cookiejar.CookieJar()


def cookie_header(jar: http.cookiejar.CookieJar, url: str) -> str | None:
    """The ``Cookie`` header a browser would send to ``url`` from this jar, or ``None``."""
    request = urllib.request.Request(url)
    jar.add_cookie_header(request)
    return request.get_header("Cookie")


def cookie_names(jar: http.cookiejar.CookieJar, url: str) -> set[str]:
    """Names of the cookies sent to ``url``."""
    header = cookie_header(jar, url) or ""
    return {part.split("=", 1)[0].strip() for part in header.split(";") if "=" in part}


def check_jar(jar: http.cookiejar.CookieJar, cookie_url: str) -> None:
    """``InvalidRequestError`` naming what is missing unless the jar can sign in to Flow (spec §2.3)."""
    names = cookie_names(jar, cookie_url.rstrip("/") + "/")
    missing = []
    if not names & set(APP_COOKIES):
        missing.append("OSID or __Secure-OSID (for flow.google.com)")
    if not names & set(SSO_COOKIES):
        missing.append("a Google sign-in cookie (SID, HSID, SSID, APISID, SAPISID, __Secure-1PSID or __Secure-3PSID)")
    if missing:
        raise InvalidRequestError(
            "the cookies cannot sign in to Flow: missing " + " and ".join(missing)
            + "; export them from a browser tab signed in to flow.google.com", param="cookies",
        )


class _SetCookies:
    """The minimal response object :meth:`http.cookiejar.CookieJar.extract_cookies` reads."""

    def __init__(self, values: list[str]) -> None:
        self._headers = email.message.Message()
        for value in values:
            self._headers["Set-Cookie"] = value

    def info(self) -> email.message.Message:
        return self._headers


def absorb_set_cookies(jar: http.cookiejar.CookieJar, url: str, values: list[str]) -> bool:
    """Store ``Set-Cookie`` values of a reply as if received from ``url`` (rotated ``__Secure-1PSIDTS``, a new OSID).

    Returns True when the jar changed.
    """
    if not values:
        return False
    before = dump_jar(jar)
    jar.extract_cookies(_SetCookies(values), urllib.request.Request(url))  # type: ignore[arg-type]
    return dump_jar(jar) != before
