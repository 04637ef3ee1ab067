"""The reCAPTCHA token source registry and the failover chain (spec §1.6).

Token sources are small plugins of this package: a factory
``(CaptchaConfig) -> TokenSource`` registered under a name. The built-ins
(:mod:`flow2api_videofx.captcha`) are always present; a distribution adds one
by registering its factory in the entry-point group ``flow2api_videofx.captcha``
(the entry-point name is the ``[captcha] captcha_method`` value), without
editing this module::

    [options.entry_points]
    flow2api_videofx.captcha =
        mysolver = my_package.solver:mysolver_source

Its settings are the ``[captcha] mysolver_*`` keys, read with
``config.source_settings("mysolver")``. A factory raises ``ValueError`` when
its settings are incomplete (the source is then left out of the chain, logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points

import aiohttp

from flow2api.errors import CaptchaError, SolverUnavailableError
from flow2api_videofx.captcha import (
    CaptchaToken,
    TokenSource,
    capmonster_source,
    capsolver_source,
    ezcaptcha_source,
    none_source,
    yescaptcha_source,
)
from flow2api_videofx.config import CaptchaConfig

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flow2api_videofx.captcha"

SourceFactory = Callable[[CaptchaConfig], TokenSource]

BUILTIN_SOURCES: Mapping[str, SourceFactory] = {
    "none": none_source,
    "yescaptcha": yescaptcha_source,
    "capmonster": capmonster_source,
    "ezcaptcha": ezcaptcha_source,
    "capsolver": capsolver_source,
}


def installed_sources() -> dict[str, SourceFactory]:
    """Built-in sources plus those of the ``flow2api_videofx.captcha`` entry-point group.

    A built-in name cannot be taken over by an entry point; an entry point
    that fails to import is logged and left out.
    """
    found: dict[str, SourceFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN_SOURCES:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception:  # a broken third-party plugin must not stop start-up
            log.exception("reCAPTCHA source %r (%s) failed to import; it is unavailable", ep.name, ep.value)
    return {**found, **BUILTIN_SOURCES}


class TokenChain:
    """The configured sources, first ``captcha_method`` then ``fallback_methods``; each failure moves to the next."""

    def __init__(self, sources: list[TokenSource]) -> None:
        self.sources = sources

    @classmethod
    def from_config(cls, config: CaptchaConfig, registry: Mapping[str, SourceFactory]) -> TokenChain:
        """Build the chain from ``registry``; sources whose settings are incomplete are left out (logged once).

        Names are validated by :func:`flow2api_videofx.config.load_config`; an
        unknown one here raises ``KeyError``.
        """
        sources: list[TokenSource] = []
        for method in [config.captcha_method, *config.fallback_methods]:
            try:
                sources.append(registry[method](config))
            except ValueError as exc:
                log.warning("reCAPTCHA source skipped: %s", exc)
        return cls(sources)

    async def token(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:
        """A fresh token from the first source that gives one; ``CaptchaError`` listing why each failed.

        ``None`` when the first working source is ``none``. The error is a
        ``SolverUnavailableError`` (transient: the failover may come back to the
        account) when every source failed that way.
        """
        if not self.sources:
            raise CaptchaError("no reCAPTCHA source is configured: set [captcha] captcha_method and its API key")
        failures: list[CaptchaError] = []
        for source in self.sources:
            try:
                return await source.solve(http, page_url=page_url, action=action, user_agent=user_agent)
            except CaptchaError as exc:
                log.warning("reCAPTCHA source %s failed: %s", source.name, exc.message)
                failures.append(exc)
        error = SolverUnavailableError if all(exc.transient for exc in failures) else CaptchaError
        raise error("no reCAPTCHA token could be obtained: " + "; ".join(exc.message for exc in failures))
