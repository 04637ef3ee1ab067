"""Input models shared by the admin pages and the admin JSON API, so both validate the same way.

Each model is pydantic with ``extra="forbid"``. HTML forms are turned into the
same dicts the JSON API receives (:func:`form_data`); a validation failure
becomes one :class:`~flow2api.errors.InvalidRequestError` naming the first bad
field in ``param`` and every problem in the message (never echoing a value,
which may be a secret).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from multidict import MultiMapping
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flow2api.errors import InvalidRequestError
from flow2api.proxies import validate_proxy_url

M = TypeVar("M", bound=BaseModel)


def _proxy(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return validate_proxy_url(value.strip())


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AccountFields(_Input):
    """Editable account fields (``PATCH /api/accounts/{id}``, the account form); omitted = unchanged.

    Concurrency: jobs at once per kind, ``-1`` = unlimited, ``0`` = none.
    ``proxy_url``: ``http://``, ``https://``, ``socks4://``, ``socks5://``,
    ``socks5h://``; empty = the global proxy.
    """

    name: str | None = Field(None, max_length=200)
    remark: str | None = Field(None, max_length=2000)
    enabled: bool | None = None
    image_enabled: bool | None = None
    video_enabled: bool | None = None
    image_concurrency: int | None = Field(None, ge=-1, le=1000)
    video_concurrency: int | None = Field(None, ge=-1, le=1000)
    proxy_url: str | None = None

    @field_validator("proxy_url")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        return None if value is None else (_proxy(value) or "")

    def changes(self) -> dict[str, Any]:
        """The fields that were given, ready for ``AccountPool.update`` (an empty proxy becomes ``None``)."""
        data = self.model_dump(exclude_unset=True)
        if "proxy_url" in data:
            data["proxy_url"] = data["proxy_url"] or None
        if data.get("enabled"):
            # re-enabling by hand is a fresh start, as in the original ("enable clears ban, resets counter")
            data.update(ban_reason=None, consecutive_errors=0, cooldown_until=None)
        return data


class AccountCreate(AccountFields):
    """``POST /api/accounts`` and the add form: a credential (``st`` for the videofx family) plus optional fields."""

    family: str = "videofx"
    st: str | None = Field(None, min_length=1, description="labs.google session token")
    credentials: dict[str, str] | None = Field(None, description="credential fields of other families")

    def credential_map(self) -> dict[str, str]:
        """The family's credential fields (``{"st": …}`` for videofx)."""
        creds = dict(self.credentials or {})
        if self.st:
            creds["st"] = self.st
        return creds


class KeyFields(_Input):
    """Editable API key fields (``PATCH /api/keys/{id}``, the key form); omitted = unchanged.

    ``rpm`` requests per minute and ``concurrency`` requests at once, 0 =
    unlimited; ``models`` allowed model ids, empty = all; ``expires_at`` Unix
    seconds or ``null`` for never.
    """

    name: str | None = Field(None, min_length=1, max_length=200)
    rpm: int | None = Field(None, ge=0, le=1_000_000)
    concurrency: int | None = Field(None, ge=0, le=10_000)
    models: list[str] | None = None
    expires_at: float | None = None
    enabled: bool | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [m.strip() for m in value.replace("\n", ",").split(",") if m.strip()]
        return value

    @field_validator("expires_at", mode="before")
    @classmethod
    def _parse_expiry(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                moment = datetime.datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("use a date like 2027-01-31 (UTC) or Unix seconds") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.timezone.utc)
            return moment.timestamp()
        return value

    def changes(self) -> dict[str, Any]:
        """The fields that were given, ready for ``ApiKeyStore.update``."""
        data = self.model_dump(exclude_unset=True)
        if "models" in data:
            data["models"] = tuple(data["models"] or ())
        return data


class KeyCreate(KeyFields):
    """``POST /api/keys`` and the create form: a name is required."""

    name: str = Field(min_length=1, max_length=200)


class ProxyTest(_Input):
    """``POST /api/proxies/test``: try ``proxy_url`` against ``target_url``; ``timeout`` in seconds."""

    proxy_url: str = Field(min_length=1)
    target_url: str = "https://labs.google/"
    timeout: float = Field(15, gt=0, le=120)

    @field_validator("target_url")
    @classmethod
    def _http_target(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the target must be an http:// or https:// URL")
        return value


class TokenCreate(_Input):
    """``POST /api/admin-tokens``: a name for the new admin token."""

    name: str = Field(min_length=1, max_length=200)


def validation_error(exc: ValidationError) -> InvalidRequestError:
    """One 400 error for a pydantic failure: ``param`` is the first bad field; messages name fields only."""
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        problems.append(f"{field}: {message}")
    first = exc.errors()[0]["loc"] if exc.errors() else ()
    return InvalidRequestError("; ".join(problems), param=str(first[0]) if first else None)


def parse(model: type[M], data: Any) -> M:
    """``model`` validated from ``data``; raises ``InvalidRequestError`` (400) on any problem."""
    if not isinstance(data, Mapping):
        raise InvalidRequestError("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def form_data(
    form: MultiMapping[Any], fields: Iterable[str], *, checkboxes: Iterable[str] = (), keep_empty: Iterable[str] = (),
) -> dict[str, Any]:
    """A dict of the given form ``fields`` (empty inputs left out, so they mean "unchanged").

    ``keep_empty`` fields are passed on even when empty (a cleared remark);
    ``checkboxes`` are boolean fields: present = true, absent = false (an HTML
    checkbox sends nothing when unticked). File uploads are ignored.
    """
    data: dict[str, Any] = {}
    keep = set(keep_empty)
    for name in fields:
        value = form.get(name)
        if isinstance(value, str) and (value.strip() != "" or name in keep):
            data[name] = value
    for name in checkboxes:
        data[name] = name in form
    return data
