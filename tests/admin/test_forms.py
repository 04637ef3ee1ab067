"""Input models shared by pages and API: parsing, the one 400 they raise, and credential mapping per family."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from flow2api.admin.forms import AccountCreate, AccountFields, KeyFields, parse
from flow2api.admin.pages.accounts import family_credentials
from flow2api.errors import InvalidRequestError
from flow2api.testing import FakeFamily


class SessionTokenFamily(FakeFamily):
    """A family whose one credential field is ``st`` (as videofx's)."""

    name = "videofx"
    credential_fields = ("st",)


class CookieFamily(FakeFamily):
    """A family whose one credential field is ``cookies`` (as flowweb's)."""

    name = "flowweb"
    credential_fields = ("cookies",)


#: ``family_credentials`` reads only the pool's families.
POOL = SimpleNamespace(families={f.name: f for f in (SessionTokenFamily(), CookieFamily())})


def test_one_credential_box_fills_the_familys_field() -> None:
    assert family_credentials(POOL, parse(AccountCreate, {"st": "abc"})) == {"st": "abc"}
    assert family_credentials(POOL, parse(AccountCreate, {"family": "flowweb", "st": "[{...}]"})) == {"cookies": "[{...}]"}
    explicit = parse(AccountCreate, {"family": "flowweb", "credentials": {"cookies": "c"}})
    assert family_credentials(POOL, explicit) == {"cookies": "c"}


def test_key_fields_parse_dates_and_model_lists() -> None:
    fields = parse(KeyFields, {"models": "a, b\nc,,", "expires_at": "2030-02-03", "rpm": "7"})
    assert fields.changes() == {
        "models": ("a", "b", "c"), "expires_at": datetime(2030, 2, 3, tzinfo=timezone.utc).timestamp(), "rpm": 7,
    }
    assert parse(KeyFields, {"models": "", "expires_at": ""}).changes() == {"models": (), "expires_at": None}


def test_account_fields_changes() -> None:
    assert parse(AccountFields, {"enabled": True}).changes() == {
        "enabled": True, "ban_reason": None, "consecutive_errors": 0, "cooldown_until": None,
    }
    assert parse(AccountFields, {"proxy_url": ""}).changes() == {"proxy_url": None}
    assert parse(AccountFields, {"proxy_url": " socks5h://h:1 "}).changes() == {"proxy_url": "socks5h://h:1"}


@pytest.mark.parametrize(("model", "data", "param"), [
    (AccountFields, {"proxy_url": "ftp://user:pw-secret-1@h"}, "proxy_url"),
    (AccountFields, {"image_concurrency": -2}, "image_concurrency"),
    (AccountFields, {"colour": "red"}, "colour"),
    (KeyFields, {"expires_at": "next tuesday"}, "expires_at"),
    (KeyFields, {"rpm": -1}, "rpm"),
])
def test_bad_input_is_one_400_naming_the_field(model, data: dict, param: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        parse(model, data)
    assert err.value.param == param and err.value.status == 400
    assert param in err.value.message and "pw-secret-1" not in err.value.message
