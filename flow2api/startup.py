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
emulators and once more with the settings that point at them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from flow2api.admin.overrides import apply_stored_settings
from flow2api.discovery import (
    WORKFLOW_GROUP, ProviderFactory, WorkflowFactory, build_providers, build_workflows, families_of, installed_factories,
)
from flow2api.plugin import Provider, Workflow
from flow2api.settings import Settings

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


async def prepare_demo(
    settings: Settings, stack: contextlib.AsyncExitStack, factories: Mapping[str, ProviderFactory] | None = None,
    workflow_factories: Mapping[str, WorkflowFactory] | None = None,
) -> Prepared:
    """Demo mode: data in ``<data_dir>/demo``, every family's emulator started on loopback (closed by ``stack``),
    the family's settings pointing at it and one demo account per family (factories as :func:`prepare`).
    Raises ``SettingsError``."""
    if workflow_factories is None:
        workflow_factories = installed_factories(WORKFLOW_GROUP) if factories is None else {}  # type: ignore[assignment]
    factories = installed_factories() if factories is None else factories
    settings = settings.with_overrides(storage={"data_dir": str(settings.storage.data_dir / DEMO_DIR)})
    first = prepare(settings, factories, workflow_factories)  # type: ignore[arg-type]
    sections: dict[str, dict[str, object]] = {}
    accounts: list[DemoAccount] = []
    for family in families_of(first.providers).values():
        upstream = family.demo_upstream(first.settings.storage.data_dir)
        if upstream is None:
            continue
        started = await stack.enter_async_context(upstream)
        for section, values in started.sections.items():
            sections.setdefault(section, {}).update(values)
        accounts.append((family.name, started.credentials))
    if not sections:
        return Prepared(first.settings, first.providers, tuple(accounts), first.workflows)
    final = first.settings.with_plugin_sections(sections)
    return Prepared(final, build_providers(final, factories, first.workflows), tuple(accounts), first.workflows)

DEMO: Final = web.AppKey("demo", bool)
