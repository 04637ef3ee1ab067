"""Finding provider plugins through the ``flow2api.providers`` entry-point group.

The entry-point name is the provider id; its object is a factory (class or
function) taking a :class:`~flow2api.plugin.PluginContext`. A plugin that
fails to import is logged and skipped (its models show as unavailable); a
plugin that rejects its settings stops start-up with its message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Final

from aiohttp import web

from flow2api.plugin import AccountFamily, PluginConfigError, PluginContext, Provider
from flow2api.settings import CORE_SECTIONS, Settings, SettingsError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flow2api.providers"

ProviderFactory = Callable[[PluginContext], Provider]


def plugin_context(settings: Settings) -> PluginContext:
    """The :class:`PluginContext` for ``settings``."""
    return PluginContext(sections=settings.plugin_sections, data_dir=settings.storage.data_dir)


def installed_factories() -> dict[str, ProviderFactory]:
    """Every installed provider factory by entry-point name; broken plugins are logged and left out."""
    factories: dict[str, ProviderFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factories[ep.name] = ep.load()
        except Exception:
            log.exception("provider plugin %r (%s) failed to import; its models are unavailable", ep.name, ep.value)
    return factories


def build_providers(settings: Settings, factories: Mapping[str, ProviderFactory]) -> dict[str, Provider]:
    """Instantiate providers and check that every non-core settings section is claimed by one of their families.

    Raises :class:`SettingsError` when a plugin rejects its settings or a section is unclaimed.
    """
    context = plugin_context(settings)
    providers: dict[str, Provider] = {}
    for name, factory in factories.items():
        try:
            provider = factory(context)
        except PluginConfigError as exc:
            raise SettingsError(f"{settings.source}: {exc}") from None
        if provider.name != name:
            raise SettingsError(f"provider plugin {name!r} calls itself {provider.name!r}; the names must match")
        providers[name] = provider
    claimed = {section for family in families_of(providers).values() for section in family.config_sections}
    unclaimed = sorted(set(settings.plugin_sections) - claimed - set(CORE_SECTIONS))
    if unclaimed:
        raise SettingsError(
            f"{settings.source}: unknown section(s) {', '.join(f'[{s}]' for s in unclaimed)}"
            " (not a core section, and no installed provider plugin uses it)"
        )
    log.info("providers: %s", ", ".join(sorted(providers)) or "none installed")
    return providers


def families_of(providers: Mapping[str, Provider]) -> dict[str, AccountFamily]:
    """The account families of ``providers`` by family name (first provider's object wins)."""
    families: dict[str, AccountFamily] = {}
    for provider in providers.values():
        families.setdefault(provider.family.name, provider.family)
    return families

PROVIDERS: Final = web.AppKey("providers", Mapping[str, Provider])
