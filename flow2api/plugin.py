"""The public plugin API: what a provider plugin implements and what it receives.

This module *is* the contract (like a hook specification): a third-party
provider is a distribution that registers a factory in the entry-point group
``flow2api.providers``; the entry-point name is the provider id used in
``models.yaml``. Plugins import only this module and :mod:`flow2api.errors`.

Lifecycle::

    factory = entry_point.load()              # a class or function
    provider = factory(PluginContext(...))    # once per app; validates its settings sections
    provider.Options.model_validate(params)   # once per catalog route, at catalog load
    provider.generate(Call(...))              # once per attempt of a client request

A provider never writes an HTTP response and never touches the pool: it yields
:data:`Event` objects and raises :class:`flow2api.errors.Flow2APIError`
subclasses; the pipeline decides about retries, failover and account health.
Every event a provider yields commits the request to its account: after the
first event the pipeline no longer fails over (which would duplicate upstream
work), so yield nothing before the upstream has accepted the job.

Accounts belong to a *family* (``videofx``, ``flowweb`` …): providers that talk
to the same upstream share one :class:`AccountFamily`, which owns the
credential (adding, refreshing, checking an account). The core stores the
family's secrets encrypted and its state as JSON, and leases accounts.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import aiohttp
import aiohttp_socks
import python_socks
from pydantic import BaseModel

__all__ = [
    "AccountFamily",
    "AccountSession",
    "AccountUpdate",
    "AccountView",
    "Call",
    "DemoUpstream",
    "Event",
    "InputImage",
    "Job",
    "Kind",
    "MediaOutput",
    "PROXY_ERRORS",
    "PluginConfigError",
    "PluginContext",
    "Progress",
    "Provider",
    "Submitted",
    "Submitting",
    "Usage",
]

T = TypeVar("T")


#: Exceptions a ``Call.http`` request raises when the account's proxy (not the upstream) failed.
#: The core routes sessions through aiohttp-socks, whose errors are not ``aiohttp.ClientError``s;
#: providers map these to ``ProxyConnectError`` so the failure counts against the proxy, not Google.
PROXY_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientProxyConnectionError,
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyTimeoutError,
    python_socks.ProxyError,
    python_socks.ProxyConnectionError,
    python_socks.ProxyTimeoutError,
)


class Kind(str, enum.Enum):
    """What a model produces."""

    IMAGE = "image"
    VIDEO = "video"


class PluginConfigError(Exception):
    """A plugin's settings section is invalid; the message names section and key, never a secret value."""


@dataclass(frozen=True, slots=True)
class PluginContext:
    """What a provider factory receives once at start-up.

    ``sections`` maps settings section names (``"flow"``, ``"captcha"`` …) to the
    raw key/value pairs of that section from the settings file and environment;
    the provider validates the ones it owns and lists them in its family's
    ``config_sections``. ``data_dir`` is the server's data directory.
    """

    sections: Mapping[str, Mapping[str, Any]]
    data_dir: Path
    _shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def shared(self, key: str, create: Callable[[], T]) -> T:
        """The object ``create()`` returned the first time a provider of this context asked for ``key``.

        The core builds every provider from one context per start-up
        (:func:`flow2api.discovery.build_providers`), so the providers of one
        distribution share one account family this way (its settings, locks,
        pollers, reCAPTCHA chain) instead of building one each.
        """
        if key not in self._shared:
            self._shared[key] = create()
        return self._shared[key]


@dataclass(frozen=True, slots=True)
class InputImage:
    """An input image of a request: raw bytes and their sniffed MIME type (``image/png`` …)."""

    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Job:
    """One generation a client asked for, independent of the API surface it came through.

    ``model`` is the public model id the catalog resolved; ``options`` is the
    route's params already validated by the provider's ``Options`` model;
    ``images`` are input images in request order (first frame first);
    ``n`` is the number of outputs wanted (images; videos are always 1);
    ``extend_media_id`` names the upstream video an extend model continues (the chat surface's
    ``extend://<media id>``, spec §4.2 rule 6, §5.2), ``None`` for every other job.
    """

    model: str
    kind: Kind
    prompt: str
    options: BaseModel
    images: tuple[InputImage, ...] = ()
    n: int = 1
    request_id: str = ""
    extend_media_id: str | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    """A read-only snapshot of a pool account.

    ``secrets`` is the decrypted credential of the family (e.g. ``{"st": …, "at": …}``);
    ``state`` the family's non-secret JSON state (e.g. AT expiry, projects);
    ``tier`` and ``credits`` are what the family last reported; ``proxy_url`` is
    the account's own proxy or ``None``; ``projects`` the upstream project
    (workspace) ids recorded for the account, oldest first.
    """

    id: int
    family: str
    email: str
    secrets: Mapping[str, str]
    state: Mapping[str, Any]
    tier: str | None = None
    credits: int | None = None
    proxy_url: str | None = None
    projects: tuple[str, ...] = ()

    def __repr__(self) -> str:  # secrets must never reach a log line through a repr
        return f"AccountView(id={self.id}, family={self.family!r}, email={self.email!r}, tier={self.tier!r})"


@dataclass(slots=True)
class AccountUpdate:
    """What a family hook learned about an account; ``None`` fields are left unchanged.

    ``secrets`` and ``state`` are merged key by key into what is stored;
    ``new_projects`` maps upstream project ids to titles to record.
    """

    email: str | None = None
    name: str | None = None
    tier: str | None = None
    credits: int | None = None
    secrets: dict[str, str] | None = None
    state: dict[str, Any] | None = None
    new_projects: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"AccountUpdate(email={self.email!r}, tier={self.tier!r}, credits={self.credits!r})"


class AccountSession(Protocol):
    """The leased account as a provider or family hook sees it.

    ``view`` is the current snapshot; ``save`` persists an update (encrypting
    secrets) and replaces ``view``.
    """

    @property
    def view(self) -> AccountView: ...

    async def save(self, update: AccountUpdate) -> None: ...


@dataclass(frozen=True, slots=True)
class Call:
    """Everything one generation attempt needs, frozen.

    ``http`` is a client session already routed through the account's proxy
    (or the global one); the provider uses it for every upstream call.
    """

    job: Job
    account: AccountSession
    http: aiohttp.ClientSession


@dataclass(frozen=True, slots=True)
class Progress:
    """Human-readable progress; ``percent`` is 0–100 when the provider can estimate it."""

    message: str
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class MediaOutput:
    """One finished output.

    Either ``data`` (bytes, e.g. a base64-decoded upsampled image) or ``url``
    (fetched by the core's media cache with ``http`` and ``headers``, streamed
    to disk). ``mime_type`` may be ``None`` for a URL (the response's
    Content-Type is used). ``upstream_id`` is the upstream media name, kept for
    follow-up operations (upsample, extend).
    """

    kind: Kind
    mime_type: str | None = None
    data: bytes | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upstream_id: str | None = None

    def __repr__(self) -> str:
        size = f"{len(self.data)} bytes" if self.data is not None else "url"
        return f"MediaOutput(kind={self.kind.value!r}, mime_type={self.mime_type!r}, {size})"


@dataclass(frozen=True, slots=True)
class Submitted:
    """Upstream accepted the job; ``resume`` (JSON-able) lets :meth:`Provider.resume` continue it later.

    The core stores ``resume`` with the task, so a video job survives a
    restart of flow2api: it is resumed on the same account instead of being
    submitted (and paid for) again.
    """

    resume: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Submitting:
    """The provider is about to send a paid submit that upstream can be asked about afterwards.

    ``resume`` (JSON-able) must let :meth:`Provider.resume` find out whether
    upstream got the submit: e.g. the output id that Flow derives from a seed
    the client chose (flow.google.com, spec ``flow-google-batchexecute.md``
    §3.3). The core stores it before it asks the provider for its next event,
    so the submit leaves only once the checkpoint is on disk; a crash between
    the submit and :class:`Submitted` then resumes the job on the same account
    instead of submitting it blind a second time. Unlike :class:`Submitted` it
    does not commit the attempt: a submit that fails may still fail over to
    another account (the core drops the checkpoint then).
    """

    resume: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Usage:
    """Credits the account has left after the job, as upstream reported them."""

    remaining_credits: int | None = None


Event = Progress | MediaOutput | Submitted | Submitting | Usage


@dataclass(frozen=True, slots=True)
class DemoUpstream:
    """A bundled emulator a family can run for ``flow2api demo``.

    ``sections`` override the family's settings sections (base URLs, solver)
    so they point at the emulator; ``credentials`` add one demo account.
    """

    sections: Mapping[str, Mapping[str, Any]]
    credentials: Mapping[str, str]


@runtime_checkable
class AccountFamily(Protocol):
    """Credential handling for all providers that talk to one upstream.

    Members:

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
    ``describe_state(view) -> Mapping[str, Any]`` (optional)
        Live, non-secret facts about one account for the admin site and
        ``/api/accounts`` (e.g. ``{"browser_connected": True}``); no I/O.
    ``demo_upstream(data_dir) -> AsyncContextManager[DemoUpstream] | None``
        Start the family's bundled emulator for demo mode, or ``None`` when it
        has none.
    ``web_app() -> aiohttp.web.Application | None`` (optional)
        HTTP routes the family serves itself (e.g. a WebSocket its browser
        executors connect to). ``create_app`` mounts the application at
        ``/api/<name>`` on the root app, beside the admin ``/api`` sub-app
        (aiohttp resolves the longer prefix first), so only the root
        middlewares (request context, errors) run: the family authenticates
        its own routes. Families without routes need not define it.
    """

    name: str
    config_sections: tuple[str, ...]
    credential_fields: tuple[str, ...]

    async def add(self, credentials: Mapping[str, str], http: aiohttp.ClientSession) -> AccountUpdate: ...

    def refresh_due(self, view: AccountView, now: float) -> bool: ...

    async def refresh(self, account: AccountSession, http: aiohttp.ClientSession) -> None: ...

    def demo_upstream(self, data_dir: Path) -> AbstractAsyncContextManager[DemoUpstream] | None: ...


@runtime_checkable
class Provider(Protocol):
    """A provider plugin: serves catalog routes that name it.

    Members:

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
    ``resume(call, state) -> AsyncIterator[Event]`` (optional)
        Continue a job from the ``resume`` mapping of its last :class:`Submitted`
        or :class:`Submitting` event (after a restart), on the same account; same
        events as ``generate``. From a :class:`Submitting` state it asks upstream
        whether the submit arrived and follows that job, or submits again.
        Providers without long-running jobs need not define it.
    """

    name: str
    kinds: frozenset[Kind]
    family: AccountFamily
    Options: ClassVar[type[BaseModel]]

    def describe(self, options: BaseModel) -> dict[str, Any]: ...

    def can_serve(self, options: BaseModel, account: AccountView) -> bool: ...

    def generate(self, call: Call) -> AsyncIterator[Event]: ...
