"""The two plugin protocols, every hook declared, and the base classes that supply the optional hooks' defaults.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports every name). The core calls every hook
listed here directly, optional ones included: a plugin class gets the documented default of each
optional hook by subclassing :class:`FamilyBase` / :class:`ProviderBase` (the defaults below *are* the
documented behaviour), or defines the hook itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import aiohttp
from aiohttp import web
from pydantic import BaseModel

from flow2api.errors import GenerationFailedError
from flow2api.plugin.accounts import AccountSession, AccountUpdate, AccountView
from flow2api.plugin.events import DemoUpstream, Event
from flow2api.plugin.job import Call, Kind


@runtime_checkable
class AccountFamily(Protocol):
    """Credential handling for all providers that talk to one upstream.

    Required members:

    ``name``
        Family id stored with each account (``"videofx"``).
    ``config_sections``
        Settings sections this family owns (``("flow", "captcha")``); a
        section no installed family claims is a start-up error.
    ``credential_fields``
        Names of the credential fields ``add`` accepts (``("st",)``).
    ``add(credentials, http) -> AccountUpdate``
        Check a new credential against upstream and identify the account
        (``email`` is required in the result; secrets to store go in
        ``secrets``). Raises ``CredentialRejectedError`` when upstream refuses it.
    ``refresh_due(view, now) -> bool``
        Whether ``refresh`` must run before the account is used (``now`` is
        Unix seconds). Called on every lease: keep it cheap, no I/O.
    ``refresh(account, http) -> None``
        Renew short-lived credentials (and re-read credits/tier), saving them
        through ``account.save``. Raises ``CredentialRejectedError`` when the
        long-lived credential itself is dead.

    Optional members, marked (optional); the defaults are :class:`FamilyBase`'s:

    ``check_due(view, now) -> bool`` (optional)
        Whether the account's credits/tier are stale and ``check`` should
        re-read them (``now`` Unix seconds); no I/O. The pool's background
        maintenance asks it for every enabled account once per ``[admin]
        maintenance_interval``. Default: ``False`` (never due).
    ``check(account, http) -> None`` (optional)
        Re-read credits and tier (renewing a refused short-lived credential
        if needed), saving them through ``account.save``; same errors as
        ``refresh``, handled the same way. Default: nothing.
    ``describe_state(view) -> Mapping[str, Any]`` (optional)
        Live, non-secret facts about one account for the admin site and
        ``/api/accounts`` (e.g. ``{"browser_connected": True}``); no I/O.
        Default: ``{}``.
    ``demo_upstream(data_dir) -> AsyncContextManager[DemoUpstream] | None`` (optional)
        Start the family's bundled emulator for demo mode. Default: ``None``
        (no emulator).
    ``web_app() -> aiohttp.web.Application | None`` (optional)
        HTTP routes the family serves itself (e.g. a WebSocket its browser
        executors connect to). ``create_app`` mounts the application at
        ``/api/<name>`` on the root app, beside the admin ``/api`` sub-app
        (aiohttp resolves the longer prefix first), so only the root
        middlewares (request context, errors) run: the family authenticates
        its own routes. Default: ``None`` (no routes).
    """

    name: str
    config_sections: tuple[str, ...]
    credential_fields: tuple[str, ...]

    async def add(self, credentials: Mapping[str, str], http: aiohttp.ClientSession) -> AccountUpdate: ...

    def refresh_due(self, view: AccountView, now: float) -> bool: ...

    async def refresh(self, account: AccountSession, http: aiohttp.ClientSession) -> None: ...

    def check_due(self, view: AccountView, now: float) -> bool: ...

    async def check(self, account: AccountSession, http: aiohttp.ClientSession) -> None: ...

    def describe_state(self, view: AccountView) -> Mapping[str, Any]: ...

    def demo_upstream(self, data_dir: Path) -> AbstractAsyncContextManager[DemoUpstream] | None: ...

    def web_app(self) -> web.Application | None: ...


class FamilyBase:
    """The defaults of :class:`AccountFamily`'s optional hooks; subclass it and define the required members."""

    def check_due(self, view: AccountView, now: float) -> bool:
        """Never due: a family without a periodic check has its credits re-read by ``refresh`` only."""
        return False

    async def check(self, account: AccountSession, http: aiohttp.ClientSession) -> None:
        """Nothing to re-read (only called when ``check_due`` says so)."""

    def describe_state(self, view: AccountView) -> Mapping[str, Any]:
        """No live facts: ``{}``."""
        return {}

    def demo_upstream(self, data_dir: Path) -> AbstractAsyncContextManager[DemoUpstream] | None:
        """No bundled emulator: ``None``."""
        return None

    def web_app(self) -> web.Application | None:
        """No routes of its own: ``None``."""
        return None


@runtime_checkable
class Provider(Protocol):
    """A provider plugin: serves catalog routes that name it.

    Required members:

    ``name``
        The provider id (equal to the entry-point name), e.g. ``"videofx-image"``.
    ``kinds``
        The :class:`Kind` values it produces.
    ``family``
        Its :class:`AccountFamily`; accounts of that family can serve its routes.
    ``Options``
        A pydantic model (``extra="forbid"``) for the per-model params in
        ``models.yaml``; validated at catalog load.
    ``describe(options) -> dict``
        Client-facing capabilities of a route for ``/v1/models`` (aspect ratio,
        input image counts, duration …); JSON-serialisable.
    ``can_serve(options, account) -> bool``
        Whether this account may serve this route (tier, enabled kinds); no I/O.
    ``generate(call) -> AsyncIterator[Event]``
        Run one attempt of a job, yielding :class:`Progress`, :class:`Submitting`,
        :class:`Submitted`, :class:`MediaOutput` and :class:`Usage` events. Raises
        :mod:`flow2api.errors` types only.

    Optional members, marked (optional); the defaults are :class:`ProviderBase`'s:

    ``resume(call, state) -> AsyncIterator[Event]`` (optional)
        Continue a job from the ``resume`` mapping of its last :class:`Submitted`
        or :class:`Submitting` event (after a restart), on the same account; same
        events as ``generate``. From a :class:`Submitting` state it asks upstream
        whether the submit arrived and follows that job, or submits again.
        Default: raises ``GenerationFailedError`` (the job fails; nothing is
        submitted a second time).
    ``config`` (optional)
        The provider's validated settings: a pydantic model whose fields are
        the section models it owns (``config.flow``, ``config.captcha``); the
        admin site edits those sections. Default: ``None`` (nothing to edit).
    """

    name: str
    kinds: frozenset[Kind]
    family: AccountFamily
    Options: ClassVar[type[BaseModel]]
    config: BaseModel | None

    def describe(self, options: BaseModel) -> dict[str, Any]: ...

    def can_serve(self, options: BaseModel, account: AccountView) -> bool: ...

    def generate(self, call: Call) -> AsyncIterator[Event]: ...

    def resume(self, call: Call, state: Mapping[str, Any]) -> AsyncIterator[Event]: ...


class ProviderBase:
    """The defaults of :class:`Provider`'s optional members; subclass it and define the required ones."""

    name: str
    #: No settings sections of its own to edit (see ``Provider.config``).
    config: BaseModel | None = None

    async def resume(self, call: Call, state: Mapping[str, Any]) -> AsyncIterator[Event]:
        """Cannot continue an accepted job: raises ``GenerationFailedError`` at the first step."""
        raise GenerationFailedError(f"The provider '{self.name}' cannot resume an accepted job after a restart.")
        yield  # pragma: no cover - makes this an async generator like every ``resume``
