"""The ``flowweb`` account family: cookie jar → page bootstrap → credits/tier, projects, executors.

Secrets stored per account (encrypted by the core): ``cookies`` (the jar as JSON,
:mod:`~flow2api_flowweb.cookies`) and ``at`` (the page's XSRF value). State: ``f_sid``,
``bl``, ``hl``, ``site_key``, ``bootstrapped_at`` (Unix s), ``service_tier``. Account
management (add, refresh, credits) always uses direct HTTP: reads work off-browser (spec §12);
generation uses the executor chosen by ``[flowweb] executor``.

Both providers of the plugin must share one family object (one browser hub, one poller), so
:meth:`FlowWebFamily.shared` keeps one per :class:`~flow2api.plugin.PluginContext`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from flow2api.errors import InvalidRequestError, NotFoundError
from flow2api.plugin import AccountSession, AccountUpdate, AccountView, DemoUpstream, FamilyBase, PluginContext
from flow2api_flowkit.captcha import SITE_KEY
from flow2api_flowkit.captcha_chain import TokenChain
from flow2api_flowkit.projects import ProjectPool
from flow2api_flowweb.bootstrap import Bootstrap, fetch_page
from flow2api_flowweb.browser import BrowserExecutor, BrowserHub
from flow2api_flowweb.client import FlowWebClient
from flow2api_flowweb.config import FlowWebSettings, load_config
from flow2api_flowweb.cookies import check_jar, dump_jar, load_jar, parse_cookies
from flow2api_flowweb.executors import Executor, HttpExecutor
from flow2api_flowweb.layouts import Layout
from flow2api_flowweb.model_keys import ModelKeys
from flow2api_flowweb.poller import StatusPoller

log = logging.getLogger(__name__)


class DraftAccount:
    """An ``AccountSession`` for an account not stored yet (``add``): ``save`` merges into ``view`` in memory."""

    def __init__(self, view: AccountView) -> None:
        self.view = view

    async def save(self, update: AccountUpdate) -> None:
        """Merge ``secrets``/``state``/``tier``/``credits`` into the in-memory view."""
        self.view = replace(
            self.view, secrets={**self.view.secrets, **(update.secrets or {})},
            state={**self.view.state, **(update.state or {})},
            tier=update.tier or self.view.tier, credits=update.credits if update.credits is not None else self.view.credits,
        )


def _bootstrap_update(boot: Bootstrap) -> AccountUpdate:
    return AccountUpdate(
        secrets={"at": boot.at},
        state={"f_sid": boot.f_sid, "bl": boot.bl, "hl": boot.hl, "site_key": boot.site_key,
               "bootstrapped_at": boot.fetched_at},
    )


class FlowWebFamily(FamilyBase):
    """Account hooks for flow.google.com accounts (see :class:`flow2api.plugin.AccountFamily`)."""

    name = "flowweb"
    config_sections = ("flowweb", "flowweb_captcha", "captcha")
    credential_fields = ("cookies",)

    @classmethod
    def shared(cls, context: PluginContext) -> FlowWebFamily:
        """The family of ``context``: created by the first provider, reused by the second (``PluginContext.shared``)."""
        return context.shared(cls.name, lambda: cls(load_config(context.sections)))

    def __init__(self, settings: FlowWebSettings) -> None:
        self.settings = settings
        self.config = settings.flowweb
        self.layout = Layout(self.config.image_aspect_layout, self.config.resolution_encoding,
                             self.config.video_trailer, self.config.frame_crop)
        self.tokens = TokenChain.from_config(settings.captcha)
        self.hub = BrowserHub(self.config.executor_token.get_secret_value())
        self.poller = StatusPoller(self.config.poll_interval)
        self.http_executor = HttpExecutor(self.config, self.tokens)
        self.browser_executor = BrowserExecutor(self.hub, self.config.browser_timeout)
        self.projects = ProjectPool(self.config.project_pool_size)
        self.model_keys = ModelKeys(self.config.model_catalogue_ttl)
        if self.config.executor == "browser" and not self.config.executor_token.get_secret_value():
            log.warning("[flowweb] executor = browser but executor_token is empty: no browser can connect")

    @property
    def executor(self) -> Executor:
        """The generation executor chosen by ``[flowweb] executor``."""
        return self.browser_executor if self.config.executor == "browser" else self.http_executor

    def client(self, account: AccountSession, http: aiohttp.ClientSession, executor: Executor | None = None) -> FlowWebClient:
        """A client for ``account`` over ``http`` (the generation executor unless ``executor`` is given)."""
        return FlowWebClient(self.config, self.layout, account, http, executor or self.executor)

    def serves(self, view: AccountView) -> bool:
        """Whether the account can generate now: always over http; with a connected browser in browser mode."""
        return self.config.executor != "browser" or self.hub.connected(view.email)

    def web_app(self) -> web.Application | None:
        """Routes the core mounts at ``/api/flowweb``: the browser executor's WebSocket and its status list."""
        return self.hub.web_app()

    # -- account hooks ----------------------------------------------------------------------------------------

    async def _bootstrap(self, account: AccountSession, http: aiohttp.ClientSession, paths: list[str]) -> None:
        jar = load_jar(account.view.secrets.get("cookies", ""))
        for i, path in enumerate(paths):
            try:
                boot, changed = await fetch_page(http, self.config, jar, path)
                break
            except NotFoundError:
                if i == len(paths) - 1:
                    raise
        if boot.site_key and boot.site_key != SITE_KEY:
            log.warning("flowweb: the page's reCAPTCHA site key differs from the known one; solver tokens may fail")
        update = _bootstrap_update(boot)
        if changed:
            update.secrets = {**(update.secrets or {}), "cookies": dump_jar(jar)}
        await account.save(update)

    async def _read_credits(self, account: AccountSession, http: aiohttp.ClientSession) -> None:
        credits, tier, service = await self.client(account, http, self.http_executor).credits()
        await account.save(AccountUpdate(credits=credits, tier=tier, state={"service_tier": service}))

    async def add(self, credentials: Mapping[str, str], http: aiohttp.ClientSession) -> AccountUpdate:
        """Import the cookie file text (``credentials["cookies"]``), bootstrap from ``/``, read credits and tier.

        The e-mail comes from the page (``oPEP7c``) or ``credentials["email"]``. Raises
        ``InvalidRequestError`` (unreadable or incomplete cookies, unknown e-mail) and
        ``CredentialRejectedError`` (cookies signed out or expired).
        """
        jar = parse_cookies(credentials["cookies"])
        check_jar(jar, self.config.cookie_url)
        draft = DraftAccount(AccountView(id=0, family=self.name, email="", secrets={"cookies": dump_jar(jar)}, state={}))
        boot, changed = await fetch_page(http, self.config, jar, "/")
        update = _bootstrap_update(boot)
        if changed:
            update.secrets = {**(update.secrets or {}), "cookies": dump_jar(jar)}
        await draft.save(update)
        given = (credentials.get("email") or "").strip().lower() or None
        email = (boot.email or "").strip().lower() or given
        if email is None:
            raise InvalidRequestError("the Flow page does not name the signed-in account; give its e-mail (--email)",
                                      param="email")
        if given and email != given:
            raise InvalidRequestError(f"these cookies belong to {email}, not {given}", param="email")
        draft.view = replace(draft.view, email=email)
        await self._read_credits(draft, http)
        view = draft.view
        return AccountUpdate(email=email, name=email.split("@")[0], tier=view.tier, credits=view.credits,
                             secrets=dict(view.secrets), state=dict(view.state))

    def refresh_due(self, view: AccountView, now: float) -> bool:
        """Refresh when ``at`` is missing or the bootstrap is older than ``[flowweb] bootstrap_max_age``."""
        fetched = view.state.get("bootstrapped_at")
        if not view.secrets.get("at") or not isinstance(fetched, (int, float)):
            return True
        return now - fetched > self.config.bootstrap_max_age

    async def refresh(self, account: AccountSession, http: aiohttp.ClientSession) -> None:
        """Re-read the bootstrap from the newest project page (else ``/``), then credits and tier.

        ``CredentialRejectedError`` when the cookies are dead (the pool disables the account).
        """
        projects = account.view.projects
        paths = ([f"/project/{projects[-1]}"] if projects else []) + ["/"]
        await self._bootstrap(account, http, paths)
        await self._read_credits(account, http)

    async def project_for(self, account: AccountSession, client: FlowWebClient) -> str:
        """The project for the next job: a new one until ``project_pool_size``, then round robin (like VideoFX);
        :attr:`projects` also replaces one upstream no longer knows."""
        return await self.projects.choose(account, client.create_project)

    def demo_upstream(self, data_dir: Path) -> contextlib.AbstractAsyncContextManager[DemoUpstream] | None:
        """Run the bundled flow.google.com emulator on loopback with one demo account (http executor)."""
        return _demo_upstream()

    def describe_state(self, view: AccountView) -> dict[str, Any]:
        """Non-secret facts for an admin page: executor, browser connected, bootstrap age."""
        fetched = view.state.get("bootstrapped_at")
        return {"executor": self.config.executor, "browser_connected": self.hub.connected(view.email),
                "bootstrap_age_s": round(time.time() - fetched) if isinstance(fetched, (int, float)) else None}


@contextlib.asynccontextmanager
async def _demo_upstream() -> AsyncIterator[DemoUpstream]:
    from flow2api_flowweb.emulator import EmulatorSettings, FlowWebEmulator, serve

    # The demo keeps no request history: each recorded call holds its body, a 25 MB upload included.
    emulator = FlowWebEmulator(EmulatorSettings(max_recorded=1))
    account = emulator.add_account("demo@flow2api.local", tier=2, credits=1_000_000)
    async with serve(emulator) as base:
        yield DemoUpstream(sections=emulator.sections(base), credentials={"cookies": account.cookies_txt()})
