"""Every typed application and request key, in one place (see ../shared/STYLE.md §1).

App state is frozen after start-up; what changes at run time sits in holder
objects (the catalog holder, the pool), never in a re-assigned key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from aiohttp import web

from flow2api.apikeys import ApiKeyStore
from flow2api.admin.settings_edit import SettingsEditor
from flow2api.admin.store import AdminStore
from flow2api.admin.throttle import LoginThrottle
from flow2api.catalog import CatalogHolder
from flow2api.limits import RateLimiter
from flow2api.media import InputStore, MediaCache
from flow2api.request_state import RequestState
from flow2api.plugin import Provider
from flow2api.pool import AccountPool
from flow2api.proxies import HttpSessions
from flow2api.settings import SettingsHolder
from flow2api.storage import Database
from flow2api.storage.tasks import RequestLogRepository, TaskRepository
from flow2api.storage.usage import UsageRepository

if TYPE_CHECKING:  # these modules read app keys themselves; importing them here would be circular
    from flow2api.api.metrics import Metrics
    from flow2api.api.video_runner import VideoJobRunner
    from flow2api.jobs import JobEngine

SETTINGS: Final = web.AppKey("settings", SettingsHolder)
PROVIDERS: Final = web.AppKey("providers", Mapping[str, Provider])
CATALOG: Final = web.AppKey("catalog", CatalogHolder)
DATABASE: Final = web.AppKey("database", Database)
HTTP_SESSIONS: Final = web.AppKey("http_sessions", HttpSessions)
POOL: Final = web.AppKey("account_pool", AccountPool)
TASKS: Final = web.AppKey("tasks", TaskRepository)
REQUEST_LOGS: Final = web.AppKey("request_logs", RequestLogRepository)
MEDIA: Final = web.AppKey("media_cache", MediaCache)
DEMO: Final = web.AppKey("demo", bool)
RATE_LIMITER: Final = web.AppKey("rate_limiter", RateLimiter)
API_KEYS: Final = web.AppKey("api_keys", ApiKeyStore)
USAGE: Final = web.AppKey("usage", UsageRepository)
METRICS: Final[web.AppKey[Metrics]] = web.AppKey("metrics")
VIDEO_JOBS: Final[web.AppKey[VideoJobRunner]] = web.AppKey("video_jobs")
ENGINE: Final[web.AppKey[JobEngine]] = web.AppKey("job_engine")
VIDEO_INPUTS: Final = web.AppKey("video_inputs", InputStore)
ADMIN_STORE: Final = web.AppKey("admin_store", AdminStore)
LOGIN_THROTTLE: Final = web.AppKey("login_throttle", LoginThrottle)
SETTINGS_EDITOR: Final = web.AppKey("settings_editor", SettingsEditor)

STATE: Final = web.RequestKey("state", RequestState)
ADMIN_CALLER: Final = web.RequestKey("admin_caller", str)
