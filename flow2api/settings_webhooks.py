"""``[webhooks]``: where signed completion events go and how their deliveries are retried (docs/webhooks.md).

A leaf module of :mod:`flow2api.settings` (kept apart so that module stays small). The secret is a Standard
Webhooks secret, ``whsec_`` followed by base64 (https://www.standardwebhooks.com/), as OpenAI and Svix hand out.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SECRET_PREFIX = "whsec_"


def check_secret(value: str) -> str:
    """``value`` when it is ``whsec_<base64>`` of at least 16 bytes, else ``ValueError`` (without the value)."""
    body = value.removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body + "==", validate=False)
    except (binascii.Error, ValueError):
        raw = b""
    if not value.startswith(SECRET_PREFIX) or len(raw) < 16:
        raise ValueError("a webhook secret is 'whsec_' followed by base64 of at least 16 bytes")
    return value


def check_url(value: str) -> str:
    """``value`` when it is an ``http://`` or ``https://`` URL, else ``ValueError``."""
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("the webhook url must start with http:// or https://")
    return value


class WebhooksSection(BaseModel):
    """``[webhooks]``: the global endpoint (an API key may override it in the admin site) and the retry schedule.

    A delivery that does not get a 2xx within ``timeout`` seconds is tried again after
    ``retry_initial_seconds``, then twice as long each time up to ``retry_max_seconds``, until
    ``give_up_after_seconds`` after the event was created.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(None, description="where events are POSTed; unset = no webhooks unless a key has its own")
    secret: SecretStr | None = Field(None, description="Standard Webhooks signing secret, whsec_<base64>")
    retry_initial_seconds: float = Field(5, gt=0, description="delay before the first retry, seconds")
    retry_max_seconds: float = Field(3600, gt=0, description="longest delay between two attempts, seconds")
    give_up_after_seconds: float = Field(86400, gt=0, description="an event not delivered by then is given up")
    timeout: float = Field(10, gt=0, description="seconds one delivery may take (connect to last byte)")
    poll_interval: float = Field(1, gt=0, description="seconds between two scans of the outbox for due retries")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value) if value else None

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            check_secret(value.get_secret_value())
            return value
        return None

    @model_validator(mode="after")
    def _signed(self) -> WebhooksSection:
        if self.url and self.secret is None:
            raise ValueError("[webhooks] url needs a secret (whsec_…): every delivery is signed")
        return self
