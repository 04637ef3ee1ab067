"""Finding plugins: providers (group ``flow2api.providers``) and workflows (group ``flow2api.workflows``).

The entry-point name is the provider id (the workflow's name); its object is a
factory (class or function) taking a :class:`~flow2api.plugin.PluginContext`.
A plugin that fails to import is logged and skipped (its models show as
unavailable, its routes are absent); a plugin that rejects its settings stops
start-up with its message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Final

from aiohttp import web

from flow2api.plugin import AccountFamily, PluginConfigError, PluginContext, Provider, Workflow
from flow2api.settings import CORE_SECTIONS, Settings, SettingsError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "flow2api.providers"
WORKFLOW_GROUP = "flow2api.workflows"

ProviderFactory = Callable[[PluginContext], Provider]
WorkflowFactory = Callable[[PluginContext], Workflow]


def plugin_context(settings: Settings) -> PluginContext:
    """The :class:`PluginContext` for ``settings``."""
    return PluginContext(sections=settings.plugin_sections, data_dir=settings.storage.data_dir)


def installed_factories(group: str = ENTRY_POINT_GROUP) -> dict[str, Callable[[PluginContext], object]]:
    """Every installed factory of entry-point ``group`` by name; broken plugins are logged and left out."""
    factories: dict[str, Callable[[PluginContext], object]] = {}
    for ep in entry_points(group=group):
        try:
            factories[ep.name] = ep.load()
        except Exception:
            log.exception("plugin %r (%s, group %s) failed to import; it is unavailable", ep.name, ep.value, group)
    return factories


def _instantiate(settings: Settings, factories: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Call each factory with the plugin context; its object must carry the entry point's ``name``.

    Raises :class:`SettingsError` when a plugin rejects its settings or calls itself by another name."""
    context = plugin_context(settings)
    built: dict[str, Any] = {}
    for name, factory in factories.items():
        try:
            plugin = factory(context)
        except PluginConfigError as exc:
            raise SettingsError(f"{settings.source}: {exc}") from None
        if plugin.name != name:
            raise SettingsError(f"{what} plugin {name!r} calls itself {plugin.name!r}; the names must match")
        built[name] = plugin
    return built


def build_workflows(settings: Settings, factories: Mapping[str, WorkflowFactory]) -> dict[str, Workflow]:
    """Instantiate workflow plugins (:class:`flow2api.plugin.Workflow`); each validates its own sections.

    Raises :class:`SettingsError` when one rejects its settings or calls itself by another name.
    """
    workflows: dict[str, Workflow] = _instantiate(settings, factories, "workflow")
    if workflows:
        log.info("workflows: %s", ", ".join(sorted(workflows)))
    return workflows


def build_providers(
    settings: Settings, factories: Mapping[str, ProviderFactory], workflows: Mapping[str, Workflow] | None = None,
) -> dict[str, Provider]:
    """Instantiate providers and check that every non-core settings section is claimed by one of their families
    (or by one of ``workflows``).

    Raises :class:`SettingsError` when a plugin rejects its settings or a section is unclaimed.
    """
    providers: dict[str, Provider] = _instantiate(settings, factories, "provider")
    claimed = {section for family in families_of(providers).values() for section in family.config_sections}
    claimed |= {section for workflow in (workflows or {}).values() for section in workflow.config_sections}
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
