"""The one start-up sequence: settings → stored admin changes (once) → providers (once) → the app.

:func:`prepare` is what ``flow2api serve``, the operator commands and the test
fixtures run before :func:`flow2api.app.create_app`, which takes the settings
as final::

    load_settings(path)            the file + FLOW2API_* environment (flow2api.settings)
    prepare(settings)              the admin site's stored changes laid over them, then the providers
    create_app(prepared.settings, providers=prepared.providers, demo_accounts=prepared.demo_accounts)

Demo mode (:func:`prepare_demo`) keeps its data in ``<data_dir>/demo`` and
starts each installed family's bundled emulator: a provider reads its settings
when it is built, so the providers are built once to learn their families'
emulators and once more with the settings that point at them. The emulators run
on a thread of their own with their own event loop (:class:`EmulatorThread`):
whatever a request makes them do (a 1 MB prompt to draw), the gateway's loop
keeps serving ``/health`` and still answers SIGTERM (issue 18, finding 6).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from flow2api.admin.overrides import apply_stored_settings
from flow2api.discovery import (
    WORKFLOW_GROUP, ProviderFactory, WorkflowFactory, build_providers, build_workflows, families_of, installed_factories,
)
from flow2api.plugin import DemoUpstream, Provider, Workflow
from flow2api.settings import Settings

log = logging.getLogger(__name__)

DemoAccount = tuple[str, Mapping[str, str]]
DEMO_DIR = "demo"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What :func:`~flow2api.app.create_app` is built from: final settings, providers, demo accounts to add,
    workflows."""

    settings: Settings
    providers: Mapping[str, Provider]
    demo_accounts: tuple[DemoAccount, ...] = ()
    workflows: Mapping[str, Workflow] = field(default_factory=dict)


def prepare(
    settings: Settings, factories: Mapping[str, ProviderFactory] | None = None,
    workflow_factories: Mapping[str, WorkflowFactory] | None = None,
) -> Prepared:
    """Apply the stored admin changes of ``settings``' data directory once, then build the workflows and the
    providers once.

    ``factories`` defaults to the installed ``flow2api.providers`` entry points, ``workflow_factories`` to the
    installed ``flow2api.workflows`` ones when ``factories`` is also defaulted, else to none (tests pass their
    own). Raises ``SettingsError`` when a plugin rejects its settings.
    """
    settings = apply_stored_settings(settings)
    if workflow_factories is None:
        workflow_factories = installed_factories(WORKFLOW_GROUP) if factories is None else {}  # type: ignore[assignment]
    workflows = build_workflows(settings, workflow_factories)
    providers = build_providers(settings, installed_factories() if factories is None else factories, workflows)
    return Prepared(settings, providers, workflows=workflows)


class EmulatorThread:
    """Async context manager: enters the ``upstreams`` (families' ``demo_upstream()``) on a daemon thread running
    its own event loop, and gives back what they yielded, in order; leaving it exits them there and joins the thread.

    An upstream that fails to start re-raises its error here (those already started are stopped). Stopping waits
    at most ``stop_timeout`` seconds; the thread is a daemon, so a stuck emulator cannot keep the process alive.
    """

    def __init__(self, upstreams: Sequence[contextlib.AbstractAsyncContextManager[DemoUpstream]],
                 *, stop_timeout: float = 10.0) -> None:
        self._upstreams = list(upstreams)
        self._stop_timeout = stop_timeout
        self._started: concurrent.futures.Future[list[DemoUpstream]] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-emulators", daemon=True)

    async def __aenter__(self) -> list[DemoUpstream]:
        self._thread.start()
        try:
            return await asyncio.wrap_future(self._started)
        except BaseException:  # start-up failed or was cancelled: nothing may be left running
            await self.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()  # seen by _serve if its loop is not there yet to be told
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, self._stop_timeout)
        if self._thread.is_alive():
            log.warning("the demo emulators did not stop within %g s", self._stop_timeout)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        if self._closing.is_set():
            self._stop.set()
        async with contextlib.AsyncExitStack() as stack:
            try:
                started = [await stack.enter_async_context(upstream) for upstream in self._upstreams]
            except BaseException as exc:  # handed to the caller's loop; the stack stops what did start
                with contextlib.suppress(concurrent.futures.InvalidStateError):  # the caller gave up waiting
                    self._started.set_exception(exc)
                return
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                self._started.set_result(started)
            await self._stop.wait()


async def prepare_demo(
    settings: Settings, stack: contextlib.AsyncExitStack, factories: Mapping[str, ProviderFactory] | None = None,
    workflow_factories: Mapping[str, WorkflowFactory] | None = None,
) -> Prepared:
    """Demo mode: data in ``<data_dir>/demo``, every family's emulator started on loopback on its own thread and
    event loop (:class:`EmulatorThread`, closed by ``stack``), the family's settings pointing at it and one demo
    account per family (factories as :func:`prepare`). Raises ``SettingsError``, or what an emulator raised when it could not start."""
    if workflow_factories is None:
        workflow_factories = installed_factories(WORKFLOW_GROUP) if factories is None else {}  # type: ignore[assignment]
    factories = installed_factories() if factories is None else factories
    settings = settings.with_overrides(origin="demo mode", storage={"data_dir": str(settings.storage.data_dir / DEMO_DIR)})
    first = prepare(settings, factories, workflow_factories)  # type: ignore[arg-type]
    sections: dict[str, dict[str, object]] = {}
    accounts: list[DemoAccount] = []
    families = [(family.name, family.demo_upstream(first.settings.storage.data_dir))
                for family in families_of(first.providers).values()]
    families = [(name, upstream) for name, upstream in families if upstream is not None]
    started = await stack.enter_async_context(EmulatorThread([u for _, u in families])) if families else []
    for (name, _), upstream in zip(families, started, strict=True):
        for section, values in upstream.sections.items():
            sections.setdefault(section, {}).update(values)
        accounts.append((name, upstream.credentials))
    if not sections:
        return Prepared(first.settings, first.providers, tuple(accounts), first.workflows)
    final = first.settings.with_plugin_sections(sections)
    return Prepared(final, build_providers(final, factories, first.workflows), tuple(accounts), first.workflows)

def demo_outcome(wanted: bool, reason: str, prepared: Prepared) -> tuple[bool, str]:
    """Whether the server really runs in demo mode, and the banner's reason: ``(wanted, reason)`` unless demo mode
    was wanted but no installed family bundles an emulator (only the core, or plugins without one), so no demo
    account exists; then live, saying so (the banner must not promise emulators that do not answer)."""
    if wanted and not prepared.demo_accounts:
        return False, (f"demo mode wanted ({reason}), but no installed provider plugin bundles an emulator, "
                       "e.g. pip install flow2api-videofx")
    return wanted, reason


DEMO: Final = web.AppKey("demo", bool)


def browsable_url(host: str, port: int) -> str:
    """``http://host:port`` a browser on this machine can open: a wildcard bind (``0.0.0.0``, ``::``) reads 127.0.0.1."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}"


@dataclass(frozen=True, slots=True)
class BannerFacts:
    """What the start-up banner says: where it listens, the mode and why, the client key, the admin login.

    ``key_line`` is the API key line's text (the key itself only the one time it was generated);
    ``admin_login`` the login line (the password only while it is the well-known default).
    """

    version: str
    host: str
    port: int
    demo: bool
    mode_reason: str
    key_line: str
    admin_login: str


def banner(facts: BannerFacts) -> str:
    """The lines ``flow2api serve`` prints once it listens (issue 19 item 5): URL, mode with its reason, the API
    key to use (or where it is), the admin site and its login, the landing page."""
    base = browsable_url(facts.host, facts.port)
    where = "" if facts.host in ("127.0.0.1", "localhost", "::1") else f" (listening on {facts.host or 'every interface'})"
    mode = "demo — the bundled emulators answer, no Google account is used" if facts.demo else "live"
    return "\n".join([
        f"flow2api {facts.version} is running at {base}/{where}",
        f"  mode      {mode} ({facts.mode_reason})",
        f"  API       {base}/v1 (OpenAI)   {base}/v1beta (Gemini)",
        f"  API key   {facts.key_line}",
        f"  admin     {base}/admin/   {facts.admin_login}",
        f"  start     {base}/ links the admin site, the API and the docs",
        "",
    ])
