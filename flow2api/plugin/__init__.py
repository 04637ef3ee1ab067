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

Optional hooks (``AccountFamily.check_due``/``check``/``describe_state``/``web_app``/``demo_upstream``,
``Provider.resume``/``config``) are declared in the protocols with their default behaviour; the core
calls them directly, so a plugin subclasses :class:`FamilyBase` / :class:`ProviderBase` for the
defaults or defines each hook itself.

The names live in sibling modules, one concern each — :mod:`~flow2api.plugin.context` (start-up
context, config and proxy errors), :mod:`~flow2api.plugin.job` (kinds, jobs, calls),
:mod:`~flow2api.plugin.accounts`, :mod:`~flow2api.plugin.events`, :mod:`~flow2api.plugin.media` (a stored
file read in chunks), :mod:`~flow2api.plugin.resume` (a base for typed resume state), :mod:`~flow2api.plugin.hooks`
(the protocols and their base classes), :mod:`~flow2api.plugin.workflow` (workflow plugins, entry-point
group ``flow2api.workflows``, and the job-engine, storage and admin interfaces they are handed) — and are
imported from here.
"""

from __future__ import annotations

from flow2api.plugin.accounts import AccountSession, AccountUpdate, AccountView
from flow2api.plugin.context import PROXY_ERRORS, PluginConfigError, PluginContext
from flow2api.plugin.events import DemoUpstream, Event, MediaOutput, Progress, Submitted, Submitting, Usage
from flow2api.plugin.hooks import AccountFamily, FamilyBase, Provider, ProviderBase
from flow2api.plugin.job import Call, InputImage, Job, Kind
from flow2api.plugin.media import MediaChunks
from flow2api.plugin.resume import ResumeModel
from flow2api.plugin.workflow import (
    AdminPages, DocumentStore, GeneratedImage, GeneratedVideo, ImageJob, ImageJobs, ImageModel, MountedWorkflow, Owner,
    StoredDocument, VideoJob, VideoModel, WebhookEvents, Workflow, WorkflowHost,
)

__all__ = [
    "AccountFamily",
    "AccountSession",
    "AccountUpdate",
    "AccountView",
    "AdminPages",
    "Call",
    "DemoUpstream",
    "DocumentStore",
    "Event",
    "FamilyBase",
    "GeneratedImage",
    "GeneratedVideo",
    "ImageJob",
    "ImageJobs",
    "ImageModel",
    "InputImage",
    "Job",
    "Kind",
    "MediaChunks",
    "MediaOutput",
    "MountedWorkflow",
    "Owner",
    "PROXY_ERRORS",
    "PluginConfigError",
    "PluginContext",
    "Progress",
    "Provider",
    "ProviderBase",
    "ResumeModel",
    "StoredDocument",
    "Submitted",
    "Submitting",
    "Usage",
    "VideoJob",
    "VideoModel",
    "WebhookEvents",
    "Workflow",
    "WorkflowHost",
]
