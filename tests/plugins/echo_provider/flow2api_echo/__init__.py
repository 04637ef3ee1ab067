"""flow2api-echo: a third-party provider plugin in one file (entry point ``echo-image`` in ``flow2api.providers``).

It needs no upstream: ``generate`` draws a small PNG of the route's colour,
``width`` × ``height`` pixels, and yields it as bytes. Its account family
``echo`` accepts any non-empty ``token``. It imports only ``flow2api.plugin``
and ``flow2api.errors``, like any plugin must.

models.yaml route::

    - id: echo-red
      kind: image
      routes:
      - provider: echo-image
        options: {color: red, width: 64, height: 36}
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import aiohttp
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from flow2api.errors import CredentialRejectedError
from flow2api.plugin import (
    AccountSession, AccountUpdate, AccountView, Call, Event, FamilyBase, Kind, MediaOutput, PluginContext, Progress,
    ProviderBase,
)


class EchoOptions(BaseModel):
    """``echo-image`` route params: fill colour and picture size in pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    color: Literal["red", "green", "blue"]
    width: int = Field(64, ge=1, le=512)
    height: int = Field(64, ge=1, le=512)


class EchoFamily(FamilyBase):
    """Accounts of the ``echo`` family: a ``token`` credential, never refreshed."""

    name = "echo"
    config_sections: tuple[str, ...] = ()
    credential_fields = ("token",)

    async def add(self, credentials: Mapping[str, str], http: aiohttp.ClientSession) -> AccountUpdate:
        """Accept any non-empty token; the e-mail is derived from it."""
        token = credentials.get("token", "")
        if not token:
            raise CredentialRejectedError("An echo account needs a non-empty token.")
        return AccountUpdate(email=f"{token}@echo.invalid", tier="PAYGATE_TIER_TWO", secrets={"token": token})

    def refresh_due(self, view: AccountView, now: float) -> bool:
        """Echo tokens never expire."""
        return False

    async def refresh(self, account: AccountSession, http: aiohttp.ClientSession) -> None:
        """Nothing to renew (the optional hooks keep ``FamilyBase``'s defaults: no check, no demo upstream)."""


class EchoProvider(ProviderBase):
    """Draws the requested colour; see :class:`flow2api.plugin.Provider`."""

    name = "echo-image"
    kinds = frozenset({Kind.IMAGE})
    Options = EchoOptions

    def __init__(self, context: PluginContext) -> None:
        self.family = EchoFamily()
        self.calls: list[Call] = []

    def describe(self, options: EchoOptions) -> dict[str, Any]:
        """``color`` and ``width``/``height`` for ``/v1/models``."""
        return {"color": options.color, "width": options.width, "height": options.height}

    def can_serve(self, options: EchoOptions, account: AccountView) -> bool:
        """Any echo account serves any echo route."""
        return True

    async def generate(self, call: Call) -> AsyncIterator[Event]:
        """One progress event, then one PNG of the route's colour and size."""
        options: EchoOptions = call.job.options  # type: ignore[assignment]
        self.calls.append(call)
        yield Progress(f"echo: painting {options.color}", percent=50)
        buffer = io.BytesIO()
        Image.new("RGB", (options.width, options.height), options.color).save(buffer, format="PNG")
        yield MediaOutput(Kind.IMAGE, mime_type="image/png", data=buffer.getvalue(), upstream_id=f"echo-{len(self.calls)}")
