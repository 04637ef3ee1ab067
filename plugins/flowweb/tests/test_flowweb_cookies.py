"""Cookie-jar import and scoping (spec §2.3) and the page bootstrap parser (spec §2.5)."""

from __future__ import annotations

import json

import pytest

from flow2api.errors import CredentialRejectedError, InvalidRequestError, UpstreamProtocolError
from flow2api_flowweb.bootstrap import parse_bootstrap, wiz_values
from flow2api_flowweb.cookies import (
    absorb_set_cookies,
    check_jar,
    cookie_header,
    dump_jar,
    load_jar,
    parse_cookies,
)

FLOW = "https://flow.google.com/_/AiSandboxAngularFrontend/data/batchexecute"
NETSCAPE = """# Netscape HTTP Cookie File
.google.com\tTRUE\t/\tTRUE\t2000000000\tSID\tsid-value
.google.com\tTRUE\t/\tTRUE\t2000000000\t__Secure-1PSID\tpsid-value
#HttpOnly_flow.google.com\tFALSE\t/\tTRUE\t2000000000\tOSID\tosid-value
.youtube.com\tTRUE\t/\tTRUE\t2000000000\tYSC\tyoutube-value
labs.google\tFALSE\t/\tTRUE\t2000000000\t__Secure-next-auth.session-token\tlabs-value
.google.com\tTRUE\t/\tTRUE\t1000000000\tHSID\texpired-value
"""


def names(header: str | None) -> set[str]:
    return {part.split("=", 1)[0].strip() for part in (header or "").split(";") if part}


def test_netscape_file_gives_only_the_cookies_a_browser_sends_to_flow() -> None:
    jar = parse_cookies(NETSCAPE)
    assert names(cookie_header(jar, FLOW)) == {"SID", "__Secure-1PSID", "OSID"}
    check_jar(jar, "https://flow.google.com")


def test_a_netscape_file_without_the_magic_line_is_accepted() -> None:
    body = NETSCAPE.split("\n", 1)[1]
    assert "OSID" in names(cookie_header(parse_cookies(body), FLOW))


def test_cookie_editor_json_export() -> None:
    export = [
        {"domain": ".google.com", "expirationDate": 2_000_000_000.5, "hostOnly": False, "httpOnly": True,
         "name": "SAPISID", "path": "/", "sameSite": "unspecified", "secure": True, "session": False,
         "storeId": "0", "value": "v1"},
        {"domain": "flow.google.com", "hostOnly": True, "httpOnly": True, "name": "__Secure-OSID", "path": "/",
         "secure": True, "session": True, "value": "v2"},
        {"domain": "other.google.com", "hostOnly": True, "name": "NOPE", "path": "/", "value": "v3"},
    ]
    jar = parse_cookies(json.dumps(export))
    assert names(cookie_header(jar, FLOW)) == {"SAPISID", "__Secure-OSID"}
    check_jar(jar, "https://flow.google.com")


def test_playwright_storage_state_export() -> None:
    state = {"cookies": [
        {"name": "SID", "value": "a", "domain": ".google.com", "path": "/", "expires": -1, "httpOnly": True,
         "secure": True, "sameSite": "Lax"},
        {"name": "OSID", "value": "b", "domain": "flow.google.com", "path": "/", "expires": 2_000_000_000,
         "httpOnly": True, "secure": True, "sameSite": "Lax"},
    ], "origins": []}
    assert names(cookie_header(parse_cookies(json.dumps(state)), FLOW)) == {"SID", "OSID"}


def test_secure_cookies_are_not_sent_over_plain_http() -> None:
    assert cookie_header(parse_cookies(NETSCAPE), "http://flow.google.com/") is None


@pytest.mark.parametrize(("drop", "missing"), [("OSID", "OSID or __Secure-OSID"), ("SID", "Google sign-in cookie")])
def test_a_jar_without_osid_or_sso_cookies_is_refused_naming_what_is_missing(drop: str, missing: str) -> None:
    body = "\n".join(line for line in NETSCAPE.splitlines() if not line.endswith(f"\t{drop}\t{drop.lower()}-value")
                     and not (drop == "SID" and "PSID" in line))
    with pytest.raises(InvalidRequestError) as raised:
        check_jar(parse_cookies(body), "https://flow.google.com")
    assert missing in raised.value.message and "-value" not in raised.value.message


@pytest.mark.parametrize("text", ["", "not a cookie file", "[1, 2]", '{"cookies": 3}', "{broken"])
def test_unreadable_exports_are_invalid_requests(text: str) -> None:
    with pytest.raises(InvalidRequestError):
        parse_cookies(text)


def test_the_stored_jar_round_trips_and_absorbs_rotated_cookies() -> None:
    jar = load_jar(dump_jar(parse_cookies(NETSCAPE)))
    assert names(cookie_header(jar, FLOW)) == {"SID", "__Secure-1PSID", "OSID"}
    changed = absorb_set_cookies(jar, FLOW, ["__Secure-1PSIDTS=rotated; Domain=.google.com; Path=/; Secure",
                                             "OSID=new-osid; Path=/; Secure; HttpOnly"])
    header = cookie_header(jar, FLOW) or ""
    assert changed and "__Secure-1PSIDTS=rotated" in header and "OSID=new-osid" in header
    assert not absorb_set_cookies(jar, FLOW, [])


PAGE = ('<!doctype html><html lang="en-GB"><head><script>window.WIZ_global_data = {"Yllh3e":"AIQ-decoy",'
        '"SNlM0e":"AJpMio3xY:1760000000000","FdrFJe":"-8285123","cfb2h":"boq_labs-ai-sandbox-frontend_20261002.00_p0",'
        '"xZbWve":"6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV","oPEP7c":"alice@example.com","nested":{"a":[1]}};'
        "</script></head></html>")


def test_bootstrap_reads_at_fsid_bl_site_key_and_email_not_the_decoy() -> None:
    boot = parse_bootstrap(PAGE, now=5.0)
    assert (boot.at, boot.f_sid, boot.bl) == ("AJpMio3xY:1760000000000", "-8285123",
                                              "boq_labs-ai-sandbox-frontend_20261002.00_p0")
    assert boot.site_key == "6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV" and boot.email == "alice@example.com"
    assert boot.hl == "en-GB" and boot.fetched_at == 5.0
    assert "AJpMio3xY" not in repr(boot)


def test_bootstrap_falls_back_to_regexes_when_the_object_is_not_json() -> None:
    html = ("<script>window.WIZ_global_data = {SNlM0e: 1, \"SNlM0e\":\"x:1\",\"FdrFJe\":\"-1\"};</script>"
            "<script src=\"/_/x/boq_labs-ai-sandbox-frontend_20260917.01_p0/js\"></script>")
    values = wiz_values(html)
    assert values["SNlM0e"] == "x:1" and values["cfb2h"] == "boq_labs-ai-sandbox-frontend_20260917.01_p0"


def test_a_signed_out_shell_or_a_changed_page_is_refused() -> None:
    with pytest.raises(CredentialRejectedError):
        parse_bootstrap(PAGE.replace('"SNlM0e":"AJpMio3xY:1760000000000",', ""))
    with pytest.raises(UpstreamProtocolError, match="FdrFJe"):
        parse_bootstrap(PAGE.replace('"FdrFJe":"-8285123",', ""))
