"""The ``videofx`` account family: ST → AT, credits and tier, projects, pollers (spec §1.3–1.4, §2.1–2.3, §5.8).

Secrets stored per account: ``st`` (the long-lived session token) and ``at``
(the access token). State: ``at_expires`` (Unix s) and ``checked_at`` (Unix s
of the last credits/tier read). Projects are recorded through the pool
(``AccountUpdate.new_projects``) and rotated round robin, created lazily up to
``[flow] project_pool_size`` (one creation at a time per account), and replaced when upstream
no longer knows one (:class:`flow2api_flowkit.projects.ProjectPool`). The family
also owns one :class:`~flow2api_videofx.polling.StatusPoller` per account, so
every video job of an account shares one status call per poll interval.

The optional hooks it defines (:class:`~flow2api.plugin.AccountFamily`; the
pool's background maintenance calls them): ``check_due(view, now)`` says
credits/tier are older than ``[flow] check_interval``; ``check(account, http)``
re-reads them (refreshing the AT first when upstream refuses it).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp

from flow2api.errors import CredentialRejectedError
from flow2api.plugin import AccountSession, AccountUpdate, AccountView, DemoUpstream, FamilyBase, PluginContext
from flow2api_flowkit.captcha_chain import TokenChain, installed_sources
from flow2api_flowkit.projects import ProjectPool
from flow2api_videofx.client import FlowClient, SessionInfo
from flow2api_videofx.config import VideoFXConfig, load_config
from flow2api_videofx.polling import StatusPoller

log = logging.getLogger(__name__)


class VideoFXFamily(FamilyBase):
    """Account hooks for labs.google Flow accounts (see :class:`flow2api.plugin.AccountFamily`)."""

    name = "videofx"
    config_sections = ("flow", "captcha")
    credential_fields = ("st",)

    @classmethod
    def shared(cls, context: PluginContext) -> VideoFXFamily:
        """The one family of both VideoFX providers of ``context`` (``PluginContext.shared``): one set of
        project locks, pollers and reCAPTCHA sources, so an image and a video request on a new account
        cannot both create its first project, and a solver source is started once."""
        def create() -> VideoFXFamily:
            sources = installed_sources()
            config = load_config(context.sections, sources=sources)
            return cls(config, TokenChain.from_config(config.captcha, sources))
        return context.shared(cls.name, create)

    def __init__(self, config: VideoFXConfig, tokens: TokenChain | None = None) -> None:
        self.config = config
        self.tokens = tokens if tokens is not None else TokenChain([])
        self.projects = ProjectPool(config.flow.project_pool_size)
        self._pollers: dict[int, StatusPoller] = {}

    def client(self, http: aiohttp.ClientSession, view: AccountView | None = None, **kwargs) -> FlowClient:  # noqa: ANN003
        """A :class:`FlowClient` with the account's ST and AT."""
        secrets = view.secrets if view is not None else {}
        return FlowClient(http, self.config.flow, st=secrets.get("st"), at=secrets.get("at"), **kwargs)

    def poller(self, account_id: int) -> StatusPoller:
        """The account's status poller (created once, kept; its task runs only while media are watched)."""
        poller = self._pollers.get(account_id)
        if poller is None:
            poller = self._pollers[account_id] = StatusPoller(self, account_id)
        return poller

    async def _identify(self, http: aiohttp.ClientSession, st: str) -> AccountUpdate:
        session: SessionInfo = await FlowClient(http, self.config.flow, st=st).auth_session()
        credits, tier = await FlowClient(http, self.config.flow, at=session.access_token).credits()
        return AccountUpdate(
            email=session.email, name=session.name, tier=tier, credits=credits,
            secrets={"st": st, "at": session.access_token},
            state={"at_expires": session.expires_at, "checked_at": time.time()},
        )

    async def add(self, credentials: Mapping[str, str], http: aiohttp.ClientSession) -> AccountUpdate:
        """Exchange the ST for an AT, read e-mail, credits and tier (spec §2.1, §2.2)."""
        st = credentials["st"].strip()
        return await self._identify(http, st)

    def refresh_due(self, view: AccountView, now: float) -> bool:
        """Refresh when the AT is missing, has no expiry, or expires within ``at_refresh_margin`` seconds (spec §1.4)."""
        expires = view.state.get("at_expires")
        if not view.secrets.get("at") or not isinstance(expires, (int, float)):
            return True
        return expires - now < self.config.flow.at_refresh_margin

    async def refresh(self, account: AccountSession, http: aiohttp.ClientSession) -> None:
        """New AT from the ST, then credits and tier with it (spec §1.4, §2.2); saved through ``account.save``.

        Raises ``CredentialRejectedError`` when the ST is dead (the pool then
        disables the account as "session expired").
        """
        st = account.view.secrets.get("st", "")
        update = await self._identify(http, st)
        update.email = None  # the identity of a stored account never changes on refresh
        await account.save(update)
        log.info("account %d: access token refreshed (tier %s)", account.view.id, update.tier)

    def check_due(self, view: AccountView, now: float) -> bool:
        """Whether credits/tier were last read more than ``[flow] check_interval`` seconds ago (0 = never due)."""
        interval = self.config.flow.check_interval
        checked = view.state.get("checked_at")
        return bool(interval) and (not isinstance(checked, (int, float)) or now - checked >= interval)

    async def check(self, account: AccountSession, http: aiohttp.ClientSession) -> None:
        """Re-read credits and tier with the current AT (spec §2.2); a refused AT is refreshed first (§1.4 probe).

        Raises ``CredentialRejectedError`` when even a refresh cannot get a working AT.
        """
        view = account.view
        try:
            credits, tier = await self.client(http, view).credits()
        except CredentialRejectedError:
            await self.refresh(account, http)
            return
        await account.save(AccountUpdate(tier=tier, credits=credits, state={"checked_at": time.time()}))

    def demo_upstream(self, data_dir: Path) -> contextlib.AbstractAsyncContextManager[DemoUpstream] | None:
        """Run the bundled Flow emulator on a free loopback port with one demo account."""
        return _demo_upstream()


@contextlib.asynccontextmanager
async def _demo_upstream() -> AsyncIterator[DemoUpstream]:
    from aiohttp import web

    from flow2api_videofx.emulator import DEMO_ST, EmulatorSettings, FlowEmulator, demo_account

    # The demo keeps a short request history without large bodies: a recorded 25 MB upload would stay in memory.
    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=24 * 3600, captcha_polls_to_ready=0, max_recorded_requests=500,
                                             max_recorded_body_bytes=64 * 1024),
                            accounts=[demo_account()])
    runner = web.AppRunner(emulator.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        yield DemoUpstream(
            sections={
                "flow": {"labs_base_url": f"{base}/fx/api", "api_base_url": f"{base}/v1"},
                "captcha": {
                    "captcha_method": "yescaptcha", "yescaptcha_base_url": f"{base}/solver",
                    "yescaptcha_api_key": emulator.settings.solver_client_key, "solver_poll_interval": 0.05,
                },
            },
            credentials={"st": DEMO_ST},
        )
    finally:
        await runner.cleanup()
