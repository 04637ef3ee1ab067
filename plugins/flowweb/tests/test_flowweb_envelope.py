"""The batchexecute envelope (spec §2): golden requests, recorded-shape replies, error classes, round trips."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from flow2api.errors import (
    CaptchaError,
    ContentPolicyError,
    CredentialRejectedError,
    GenerationFailedError,
    InvalidRequestError,
    PermissionDeniedError,
    UpstreamProtocolError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from flow2api_flowweb.emulator.wire import RpcError, frame, ok_entry, signed_out, xsrf_challenge
from flow2api_flowweb.envelope import (
    CAPTCHA_PLACEHOLDER,
    ReqIds,
    RpcRequest,
    XsrfChallenge,
    build_body,
    build_freq,
    build_query,
    fill_captcha,
    iter_chunks,
    parse_reply,
    payload_of,
    request_headers,
    slot,
)
from flow2api_flowweb.statuses import SessionExpiredError

#: The error entry captured in spec §2.7 (HTTP 200).
CAPTURED_UNUSUAL = ('["wrb.fr","ogiZ0b",null,null,null,[7,null,[["type.googleapis.com/google.rpc.ErrorInfo",'
                    '["PUBLIC_ERROR_UNUSUAL_ACTIVITY"]]]],"generic"]')


def test_freq_of_an_rpc_without_arguments_is_the_spec_string() -> None:
    assert build_freq([RpcRequest("nzlxg", [])]) == '[[["nzlxg","[]",null,"generic"]]]'


def test_freq_nests_the_arguments_as_a_compact_json_string() -> None:
    freq = build_freq([RpcRequest("as29s", ["abc-1"])])
    assert freq == '[[["as29s","[\\"abc-1\\"]",null,"generic"]]]'
    row = json.loads(freq)[0][0]
    assert json.loads(row[1]) == ["abc-1"] and row[2] is None and row[3] == "generic"


def test_unicode_prompts_stay_utf8() -> None:
    freq = build_freq([RpcRequest("ogiZ0b", [[[["一只猫 🐈"]]]])])
    assert "一只猫 🐈" in freq and "\\u" not in freq


def test_body_is_form_encoded_with_the_whole_at_value() -> None:
    body = build_body('[[["nzlxg","[]",null,"generic"]]]', "AJpMio3xY_9:1760000000000")
    assert body == ("f.req=%5B%5B%5B%22nzlxg%22%2C%22%5B%5D%22%2Cnull%2C%22generic%22%5D%5D%5D"
                    "&at=AJpMio3xY_9%3A1760000000000")
    assert dict(parse_qsl(body))["at"] == "AJpMio3xY_9:1760000000000"
    assert build_body("[]", None) == "f.req=%5B%5D"


def test_query_has_the_web_apps_parameters_in_order() -> None:
    query = build_query(["jwpduf"], source_path="/project/p1", bl="boq_x", f_sid="-828", hl="en", reqid=123456)
    assert query == [("rpcids", "jwpduf"), ("source-path", "/project/p1"), ("bl", "boq_x"), ("f.sid", "-828"),
                     ("hl", "en"), ("_reqid", "123456"), ("rt", "c")]
    assert ("source-path", "/") not in build_query(["jwpduf"], source_path=None, bl="b", f_sid="1", hl="en", reqid=1)


def test_reqids_step_by_100000() -> None:
    ids = ReqIds(4321)
    assert [ids.next() for _ in range(3)] == [4321, 104321, 204321]
    assert 1000 <= ReqIds().next() <= 9999


def test_headers_of_an_off_browser_call() -> None:
    headers = request_headers("https://flow.google.com", "/project/p1", "UA/1")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded;charset=UTF-8"
    assert headers["X-Same-Domain"] == "1"
    assert headers["Origin"] == "https://flow.google.com"
    assert headers["Referer"] == "https://flow.google.com/project/p1"
    assert headers["sec-fetch-site"] == "same-origin" and headers["User-Agent"] == "UA/1"
    assert "Authorization" not in headers


def test_captcha_placeholder_is_filled_with_both_json_levels_escaped() -> None:
    freq = build_freq([RpcRequest("ogiZ0b", [None, [CAPTCHA_PLACEHOLDER, 1]])])
    filled = fill_captcha(freq, '03AF"x\\y')
    args = json.loads(json.loads(filled)[0][0][1])
    assert args == [None, ['03AF"x\\y', 1]]


def test_a_recorded_shape_reply_is_read_ignoring_wrong_lengths_and_unknown_entries() -> None:
    text = (")]}'\n\n999\n"
            '[["wrb.fr","nzlxg","[50,1,null,2,\\"extra\\",[7]]",null,null,null,"generic",null,"more"],["di",57],'
            '["af.httprm",56,"-62",13]]\n3\n[["e",4,null,null,143]]\n')
    reply = parse_reply(200, text)
    assert payload_of(reply, "nzlxg") == [50, 1, None, 2, "extra", [7]]
    assert [e[0] for e in reply.entries] == ["wrb.fr", "di", "af.httprm", "e"]


def test_chunks_without_length_lines_or_newlines_are_read_too() -> None:
    assert iter_chunks(')]}\'[["a"]]garbage[["b",1]]') == [[["a"]], [["b", 1]]]


def test_emulator_framing_round_trips_through_the_client_parser() -> None:
    payload = [[["m1", "p1", "w1", "CAE", None, [None] * 14]], "text with \n newline and \"quotes\""]
    reply = parse_reply(200, frame([ok_entry("jwpduf", payload), RpcError(3, "bad").entry("as29s")]))
    assert payload_of(reply, "jwpduf") == payload
    with pytest.raises(InvalidRequestError, match=r"could not read the media record \(rpc as29s, INVALID_ARGUMENT"):
        payload_of(reply, "as29s")


def error_reply(status: list) -> str:
    return frame([["wrb.fr", "ogiZ0b", None, None, None, status, "generic"]])


@pytest.mark.parametrize(("status", "error"), [
    ([7, None, [["type.googleapis.com/google.rpc.ErrorInfo", ["PUBLIC_ERROR_UNUSUAL_ACTIVITY"]]]], CaptchaError),
    ([7, None, [["type.googleapis.com/google.rpc.ErrorInfo", ["PUBLIC_ERROR_UNSAFE_GENERATION"]]]], ContentPolicyError),
    ([7, None, [["type.googleapis.com/google.rpc.ErrorInfo", ["PUBLIC_ERROR_PROMINENT_PEOPLE_FILTER_FAILED"]]]],
     ContentPolicyError),
    ([7, None, [["type.googleapis.com/google.rpc.ErrorInfo", ["PUBLIC_ERROR_MODEL_ACCESS_DENIED"]]]],
     PermissionDeniedError),
    ([8, None, [["type.googleapis.com/google.internal.labs.aisandbox.proto.common.v1.PublicAitkError", [2]]]],
     UpstreamRateLimitedError),
    ([7, None, [["type.googleapis.com/google.internal.labs.aisandbox.proto.common.v1.PublicAitkError", [32]]]],
     UpstreamRateLimitedError),
    ([7, None, [["type.googleapis.com/google.internal.labs.aisandbox.proto.common.v1.PublicAitkError", [11]]]],
     PermissionDeniedError),
    ([8], UpstreamRateLimitedError),
    ([16], SessionExpiredError),
    ([3], InvalidRequestError),
    ([5], GenerationFailedError),
    ([13], UpstreamUnavailableError),
])
def test_error_statuses_become_typed_errors(status: list, error: type) -> None:
    with pytest.raises(error) as raised:
        payload_of(parse_reply(200, error_reply(status)), "ogiZ0b")
    assert "ogiZ0b" in raised.value.message or error in (ContentPolicyError, PermissionDeniedError)


def test_the_captured_unusual_activity_entry_is_a_captcha_error() -> None:
    with pytest.raises(CaptchaError, match="PUBLIC_ERROR_UNUSUAL_ACTIVITY"):
        payload_of(parse_reply(200, f")]}}'\n\n120\n[{CAPTURED_UNUSUAL}]\n"), "ogiZ0b")


def test_http_401_and_er_401_mean_dead_cookies() -> None:
    failure = signed_out("x")
    with pytest.raises(CredentialRejectedError):
        payload_of(parse_reply(failure.status, frame(failure.entries)), "jwpduf")
    with pytest.raises(CredentialRejectedError):
        payload_of(parse_reply(200, frame([["er", None, None, None, None, 401, "generic"]])), "jwpduf")


def test_xsrf_challenge_carries_the_new_token_but_never_shows_it() -> None:
    failure = xsrf_challenge("NEW:1760000000000", "stale")
    with pytest.raises(XsrfChallenge) as raised:
        payload_of(parse_reply(failure.status, frame(failure.entries)), "nzlxg")
    assert raised.value.token == "NEW:1760000000000" and "NEW" not in str(raised.value)


def test_http_429_keeps_retry_after_and_5xx_is_unavailable() -> None:
    with pytest.raises(UpstreamRateLimitedError) as raised:
        payload_of(parse_reply(429, ")]}'\n"), "ogiZ0b", retry_after="30")
    assert raised.value.retry_after == 30
    with pytest.raises(UpstreamUnavailableError):
        payload_of(parse_reply(503, "oops"), "ogiZ0b")


def test_a_reply_without_the_entry_is_upstream_changed_or_unusual_activity() -> None:
    with pytest.raises(UpstreamProtocolError, match="no wrb.fr entry for maseQ"):
        payload_of(parse_reply(200, frame([ok_entry("other", [])])), "maseQ")
    with pytest.raises(CaptchaError):
        payload_of(parse_reply(200, ")]}'\n\n[[\"x\",\"PUBLIC_ERROR_UNUSUAL_ACTIVITY\"]]"), "maseQ")


def test_slot_names_the_rpc_and_the_missing_slot() -> None:
    assert slot([[1, [2, 3]]], 0, 1, 1, rpc="x", what="y") == 3
    with pytest.raises(UpstreamProtocolError, match=r"Flow ogiZ0b reply: payload\[0\]\[6\] \(details\) is missing"):
        slot([[1, 2]], 0, 6, 0, rpc="ogiZ0b", what="details")
