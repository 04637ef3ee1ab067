"""Reading import files: the original project's shapes and field names, tokens per line, refusals."""

from __future__ import annotations

import json

import pytest

from flow2api.admin.transfer import MAX_ITEMS, parse_import
from flow2api.errors import InvalidRequestError


def test_original_item_fields_map_to_ours() -> None:
    items, refused = parse_import(json.dumps({"tokens": [{
        "email": "a@b", "access_token": "at", "session_token": " st-1 ", "is_active": False,
        "captcha_proxy_url": "socks5h://u:p@127.0.0.1:1080", "image_enabled": False, "video_enabled": True,
        "image_concurrency": 4, "video_concurrency": -1, "remark": "r",
    }]}))
    assert refused == []
    (item,) = items
    assert (item.index, item.family, item.credentials, item.enabled) == (1, "videofx", {"st": "st-1"}, False)
    assert item.fields == {
        "image_enabled": False, "video_enabled": True, "image_concurrency": 4, "video_concurrency": -1,
        "remark": "r", "proxy_url": "socks5h://u:p@127.0.0.1:1080",
    }


def test_bare_list_strings_and_lines() -> None:
    items, _ = parse_import(json.dumps([{"session_token": "a"}, "b", {"st": "c"}]))
    assert [i.credentials["st"] for i in items] == ["a", "b", "c"]
    items, _ = parse_import("tok-1\n\n  tok-2  \n")
    assert [i.credentials["st"] for i in items] == ["tok-1", "tok-2"]


def test_bad_items_are_refused_one_by_one() -> None:
    items, refused = parse_import(json.dumps({"accounts": [
        {"session_token": "ok"}, {"email": "x"}, 7, {"session_token": "s", "image_concurrency": "many"},
        {"session_token": "s", "proxy_url": "ftp://nope"},
    ]}))
    assert [i.index for i in items] == [1]
    assert [r["item"] for r in refused] == [2, 3, 4, 5]
    assert refused[0]["error"] == "missing session_token"


@pytest.mark.parametrize("text", ["", "   ", '{"x": 1}', '"just a string"', "two words\nper line", "[" + "1," * MAX_ITEMS + "1]"])
def test_unreadable_input_is_one_400(text: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        parse_import(text)
    assert err.value.param == "data"
