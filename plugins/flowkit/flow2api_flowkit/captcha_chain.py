"""The reCAPTCHA token source registry, the settings check and the failover chain (spec §1.6).

Token sources are small plugins: a factory ``(CaptchaConfig) -> TokenSource``
registered under a name. The built-ins (:mod:`flow2api_flowkit.captcha`) are
always present; a distribution adds one by registering its factory in the
entry-point group ``flow2api.captcha`` (the entry-point name is the
``[captcha] captcha_method`` value), without editing this module::

    [options.entry_points]
    flow2api.captcha =
        mysolver = my_package.solver:mysolver_source

Its settings are the ``[captcha] mysolver_*`` keys, read with
``config.source_settings("mysolver")``. A factory raises ``ValueError`` when
its settings are incomplete (the source is then left out of the chain, logged).
The group was called ``flow2api_videofx.captcha`` while the chain lived in the
VideoFX plugin; sources still registered there are found too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from importlib.metadata import entry_points

import aiohttp

from flow2api.errors import CaptchaError, SolverUnavailableError
from flow2api_flowkit.captcha import (
    CaptchaToken,
    TokenSource,
    capmonster_source,
    capsolver_source,
    ezcaptcha_source,
    none_source,
    yescaptcha_source,
)
from flow2api_flowkit.config import CaptchaConfig

log = logging.getLogger(__name__)

#: Where third-party token sources register (the entry-point name is the source name).
ENTRY_POINT_GROUP = "flow2api.captcha"
#: The group's name before the chain left the VideoFX plugin; read after :data:`ENTRY_POINT_GROUP`.
LEGACY_ENTRY_POINT_GROUP = "flow2api_videofx.captcha"

SourceFactory = Callable[[CaptchaConfig], TokenSource]

BUILTIN_SOURCES: Mapping[str, SourceFactory] = {
    "none": none_source,
    "yescaptcha": yescaptcha_source,
    "capmonster": capmonster_source,
    "ezcaptcha": ezcaptcha_source,
    "capsolver": capsolver_source,
}


def installed_sources() -> dict[str, SourceFactory]:
    """Built-in sources plus those of the ``flow2api.captcha`` (and legacy) entry-point groups.

    A built-in name cannot be taken over by an entry point, and a name of
    ``flow2api.captcha`` wins over the legacy group's; an entry point that
    fails to import is logged and left out.
    """
    found: dict[str, SourceFactory] = {}
    for ep in [*entry_points(group=ENTRY_POINT_GROUP), *entry_points(group=LEGACY_ENTRY_POINT_GROUP)]:
        if ep.name in BUILTIN_SOURCES or ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception:  # a broken third-party plugin must not stop start-up
            log.exception("reCAPTCHA source %r (%s) failed to import; it is unavailable", ep.name, ep.value)
    return {**found, **BUILTIN_SOURCES}


def captcha_problems(section: str, config: CaptchaConfig, sources: Collection[str]) -> list[str]:
    """Problems with the source names and source keys of the captcha section ``[section]`` (empty when valid).

    ``sources`` are the installed source names (:func:`installed_sources`):
    ``captcha_method``/``fallback_methods`` must name one, and a key the model
    does not declare must start with one's name and ``_``. Each problem reads
    ``[section] key: reason``, as the families' ``PluginConfigError`` lists them.
    """
    known = ", ".join(sorted(sources))
    problems = []
    for key, method in [("captcha_method", config.captcha_method)] + [
        (f"fallback_methods[{i}]", m) for i, m in enumerate(config.fallback_methods)
    ]:
        if method not in sources:
            problems.append(f"[{section}] {key}: unknown token source {method!r} (installed: {known})")
    for key in config.model_extra or {}:
        if not any(key.startswith(f"{name}_") for name in sources):
            problems.append(f"[{section}] {key}: unknown key")
    return problems


class TokenChain:
    """The configured sources, first ``captcha_method`` then ``fallback_methods``; each failure moves to the next."""

    def __init__(self, sources: list[TokenSource]) -> None:
        self.sources = sources

    @classmethod
    def from_config(cls, config: CaptchaConfig, registry: Mapping[str, SourceFactory] | None = None) -> TokenChain:
        """Build the chain from ``registry`` (default: :func:`installed_sources`); sources whose settings are
        incomplete are left out (logged once).

        Names are validated beforehand with :func:`captcha_problems`; an
        unknown one here raises ``KeyError``.
        """
        if registry is None:
            registry = installed_sources()
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
