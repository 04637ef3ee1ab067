"""Settings: one TOML file plus ``FLOW2API_*`` environment overrides, validated by pydantic.

Section and key names follow the original project's ``setting.toml`` where one
exists (``[global] api_key``, ``[flow] timeout``, ``[admin] error_ban_threshold``,
``[call_logic] call_mode`` …), so its users can bring their file; where the original's names differ, its file is recognised and
mapped (:mod:`flow2api.settings_original`, docs/migrating.md).

The core owns the sections modelled here. Every other section (``[flow]``,
``[captcha]`` …) belongs to a provider plugin, which validates it with its own
pydantic model when the app starts (see :class:`flow2api.plugin.PluginContext`);
a section nobody claims is an error there.

Environment: ``FLOW2API_CONFIG`` names the file, ``FLOW2API_DATA_DIR`` the data
directory, and ``FLOW2API_<SECTION>__<KEY>=value`` overrides one key (the value
is read as a TOML value when it parses as one, else as a string), e.g.
``FLOW2API_GLOBAL__API_KEY=sk-…`` or ``FLOW2API_FLOW__TIMEOUT=60``.
"""

from __future__ import annotations

import logging
import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from flow2api.settings_original import is_original_layout, translate
from flow2api.settings_instances import CoordinationSection, JobsSection
from flow2api.settings_media import CacheSection, InputsSection
from flow2api.settings_webhooks import WebhooksSection

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config/flow2api.toml")
ENV_PREFIX = "FLOW2API_"


class SettingsError(Exception):
    """The settings file or environment is invalid; ``str()`` is one readable line per problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GlobalSection(_Section):
    """``[global]``: the client API key and the admin login (original project names)."""

    api_key: SecretStr | None = Field(
        None, description="the client key of the settings; unset = a random key generated into <data_dir>/api_key"
    )
    allow_default_key: bool = Field(False, description="accept the well-known key 'han1234' on a non-loopback bind")
    admin_username: str = "admin"
    admin_password: SecretStr = SecretStr("admin")


class ServerSection(_Section):
    """``[server]``: where the HTTP server listens, how long a client may take to send a request
    (:mod:`flow2api.serving`), and how many generation requests one process serves at once (its memory budget,
    docs/performance.md "Memory in flight")."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="largest request body accepted, bytes")
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="auto = uvloop when installed (Linux/macOS default), else asyncio's own loop"
    )
    header_timeout: float = Field(
        10, gt=0, le=3600, description="seconds from a request's first byte to the end of its headers (408 and close past it)"
    )
    body_timeout: float = Field(
        60, gt=0, le=86400, description="seconds from the end of a request's headers to the end of its body (408 past it)"
    )
    keepalive_timeout: float = Field(15, gt=0, le=3600, description="seconds an idle connection is kept open between requests")
    max_in_flight: int = Field(
        256, ge=0, description="generation requests served at once by this process (429 past it); 0 = no cap"
    )
    max_in_flight_bytes: int = Field(
        32 * 1024 * 1024, ge=0,
        description="request bodies and fetched input images of the generation requests in flight together, bytes "
                    "(429 past it; one request alone is always served); 0 = no cap",
    )
    instance_id: Annotated[str, AfterValidator(lambda v: v or f"{socket.gethostname()}-{os.getpid()}")] = Field(
        "", max_length=200, validate_default=True,
        description="this instance's name in logs, /health and video-job leases; empty = <host name>-<pid>",
    )


class StorageSection(_Section):
    """``[storage]``: data directory (SQLite, media cache, keys), the database and the secrets key."""

    data_dir: Path = Path("data")
    url: str = Field(
        "", description="database URL: empty = the SQLite file <data_dir>/flow2api.db; or "
        "postgresql://user:password@host:port/db (docs/deployment.md)",
    )
    secret_key: SecretStr | None = Field(
        None, description="Fernet key for secrets at rest; generated into <data_dir>/secret.key when unset"
    )
    change_poll_interval: float = Field(
        0.25, gt=0, le=5,
        description="seconds between looks for keys, accounts and settings changed by another process (CLI)",
    )
    retention_days: float = Field(
        30, ge=0, description="days finished tasks, request log rows and usage statistics are kept; 0 = forever",
    )
    retention_interval: float = Field(3600, gt=0, description="seconds between two retention sweeps")



class ProxySection(_Section):
    """``[proxy]``: the global upstream proxy (http://, https://, socks5://, socks5h://)."""

    proxy_enabled: bool = False
    proxy_url: str = ""


class GenerationSection(_Section):
    """``[generation]``: time limits and failover for one client request."""

    image_timeout: float = Field(300, gt=0, description="seconds for a whole image request")
    video_timeout: float = Field(1500, gt=0, description="seconds for a whole video request")
    image_slot_wait_timeout: float = Field(30, ge=0, description="seconds to wait for a free account slot")
    video_slot_wait_timeout: float = Field(60, ge=0, description="seconds to wait for a free account slot")
    max_retries: int = Field(3, ge=0, le=10, description="other accounts tried after an account-specific failure")
    progress_field: Literal["reasoning_content", "content"] = "reasoning_content"
    keepalive_interval: float = Field(15, ge=0, description="seconds of silence before an SSE keep-alive; 0 = never")
    video_output: Literal["tag", "link"] = Field(
        "tag", description="chat video result: HTML <video> tag or markdown link"
    )
    max_input_image_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="largest input image accepted, bytes")
    max_prompt_chars: int = Field(8000, ge=1, description="longest prompt accepted, characters (400 past it)")
    video_workers: int = Field(16, ge=1, le=100_000, description="Videos API jobs running at once; the rest wait queued")



class AdminSection(_Section):
    """``[admin]``: account health policy, and the admin site's session timeouts."""

    error_ban_threshold: int = Field(3, ge=0, description="consecutive errors that disable an account; 0 = never")
    ban_on_upstream_errors: bool = Field(
        False, description="upstream 5xx and timeouts count towards error_ban_threshold (the original project's rule); "
                           "off: they only fail over to another account"
    )
    rate_limit_cooldown: float = Field(60, ge=0, description="seconds an account rests after an upstream 429 without Retry-After")
    maintenance_interval: float = Field(60, gt=0, description="seconds between background credential checks")
    credits_refresh_interval: float = Field(3600, ge=0, description="seconds between background credit re-reads; 0 = never")
    maintenance_concurrency: int = Field(4, ge=1, description="accounts refreshed at once in the background")
    session_idle_timeout: float = Field(1800, gt=0, description="seconds of inactivity that end an admin session")
    session_absolute_timeout: float = Field(43200, gt=0, description="seconds after login that end an admin session")


class CallLogicSection(_Section):
    """``[call_logic]``: how the pool picks an account (``polling`` is the original's name for round robin)."""

    call_mode: Literal["default", "random", "round_robin", "polling", "least_busy", "credits"] = "default"
    credits_floor: int = Field(0, ge=0, description="with call_mode=credits, skip accounts below this many credits")


class RateLimitSection(_Section):
    """``[rate_limit]``: limits for the whole gateway and for the settings' ``[global] api_key``.

    Keys created in the admin site or CLI carry their own limits. 0 = unlimited.
    """

    global_rpm: int = Field(0, ge=0, description="requests per minute across all callers")
    global_concurrency: int = Field(0, ge=0, description="requests in progress across all callers")
    settings_key_rpm: int = Field(0, ge=0, description="requests per minute for [global] api_key")
    settings_key_concurrency: int = Field(0, ge=0, description="requests in progress for [global] api_key")


class CatalogSection(_Section):
    """``[catalog]``: the model catalog file and whether edits are picked up while serving."""

    path: Path | None = Field(
        None, description="catalog file; unset = ./models.yaml when it exists, else the catalog shipped with flow2api"
    )
    watch: bool = True


class DemoSection(_Section):
    """``[demo]``: run against the bundled emulators when no account is configured."""

    auto: bool = True


class LoggingSection(_Section):
    """``[logging]``: log level of the server and retention of the request log."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    request_log_days: float = Field(30, ge=0, description="days request log rows are kept; 0 = no age limit")
    request_log_max_rows: int = Field(100_000, ge=0, description="request log rows kept at most; 0 = no row limit")


CORE_SECTIONS = (
    "global", "server", "storage", "proxy", "cache", "generation", "jobs", "inputs", "admin", "call_logic", "rate_limit",
    "catalog", "demo", "logging", "coordination", "webhooks",
)


class Settings(_Section):
    """All settings. Core sections are typed; ``plugin_sections`` holds the raw plugin-owned ones."""

    global_: GlobalSection = Field(default_factory=GlobalSection, alias="global")
    server: ServerSection = Field(default_factory=ServerSection)
    storage: StorageSection = Field(default_factory=StorageSection)
    proxy: ProxySection = Field(default_factory=ProxySection)
    cache: CacheSection = Field(default_factory=CacheSection)
    generation: GenerationSection = Field(default_factory=GenerationSection)
    jobs: JobsSection = Field(default_factory=JobsSection)
    inputs: InputsSection = Field(default_factory=InputsSection)
    admin: AdminSection = Field(default_factory=AdminSection)
    call_logic: CallLogicSection = Field(default_factory=CallLogicSection)
    rate_limit: RateLimitSection = Field(default_factory=RateLimitSection)
    catalog: CatalogSection = Field(default_factory=CatalogSection)
    demo: DemoSection = Field(default_factory=DemoSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    coordination: CoordinationSection = Field(default_factory=CoordinationSection)
    webhooks: WebhooksSection = Field(default_factory=WebhooksSection)
    plugin_sections: Mapping[str, Mapping[str, Any]] = Field(default_factory=dict)
    source: str = "defaults"
    origins: Mapping[str, str] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def global_proxy_url(self) -> str | None:
        """The global proxy URL when ``[proxy] proxy_enabled`` is on, else ``None``."""
        return self.proxy.proxy_url or None if self.proxy.proxy_enabled else None

    def source_of(self, section: str, key: str) -> str:
        """Where ``[section] key`` was set: the settings file's path, ``environment FLOW2API_…``,
        ``command line``, ``admin site`` …, or ``defaults`` when nobody set it."""
        return self.origins.get(f"{section}.{key}") or self.origins.get(section) or "defaults"

    def with_overrides(self, origin: str = "admin site", **sections: Mapping[str, Any]) -> Settings:
        """A copy with core keys replaced (section name → changed keys), validated again.

        ``origin`` names who set them in error messages and :meth:`source_of`
        (``command line`` for the CLI flags; the admin site's changes use the default).
        """
        data = self.model_dump(by_alias=True, exclude={"plugin_sections", "source", "origins"})
        data = _unwrap_secrets(data)
        origins = dict(self.origins)
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
            origins.update((f"{name}.{key}", origin) for key in values)
        return _validate(data, dict(self.plugin_sections), self.source, origins)

    def with_plugin_sections(self, sections: Mapping[str, Mapping[str, Any]]) -> Settings:
        """A copy whose plugin sections are updated key by key from ``sections`` (demo mode, tests)."""
        merged = {name: dict(values) for name, values in self.plugin_sections.items()}
        for name, values in sections.items():
            merged.setdefault(name, {}).update(values)
        frozen = {name: MappingProxyType(values) for name, values in merged.items()}
        return self.model_copy(update={"plugin_sections": MappingProxyType(frozen)})


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:  # not a TOML value: the raw string
        return raw


def _apply_env(data: dict[str, Any], environ: Mapping[str, str], origins: dict[str, str]) -> bool:
    applied = False
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].partition("__")
        if section and key:
            data.setdefault(section.lower(), {})[key.lower()] = _parse_env_value(raw)
            origins[f"{section.lower()}.{key.lower()}"] = f"environment {name}"
            applied = True
    return applied


def _format_errors(exc: ValidationError, origins: Mapping[str, str]) -> str:
    """One ``<where it was set>: [section] key: message`` per problem, joined by ``; ``.

    The origin is the key's own (file, environment variable, command line,
    admin site), so ``--port 99999`` reads ``command line: [server] port: …``.
    """
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{loc[0]}]"
        origin = origins.get(".".join(loc[:2])) or origins.get(loc[0]) or "defaults"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{origin}: {where}: {message}")
    return "; ".join(lines)


def _validate(core: dict[str, Any], plugin: dict[str, Any], source: str, origins: Mapping[str, str]) -> Settings:
    try:
        return Settings.model_validate(
            {**core, "plugin_sections": MappingProxyType(plugin), "source": source,
             "origins": MappingProxyType(dict(origins))}
        )
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc, origins)) from None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings from ``path`` (or ``FLOW2API_CONFIG``, or ``config/flow2api.toml`` if present).

    ``environ`` defaults to ``os.environ`` and is injectable for tests.
    Raises :class:`SettingsError` naming the file, section and key of every problem;
    no secret value is ever part of the message.
    """
    environ = os.environ if environ is None else environ
    chosen = path or environ.get("FLOW2API_CONFIG")
    file = Path(chosen) if chosen else (DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None)
    data: dict[str, Any] = {}
    source = "defaults"
    origins: dict[str, str] = {}
    if file is not None:
        source = str(file)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"{source}: settings file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{source}: not valid TOML: {exc}") from None
    if is_original_layout(data):
        data, ignored = translate(data)
        # One line naming every key left out, so an operator sees at once what the move loses (docs/migrating.md).
        log.warning("%s is the original flow2api's setting.toml: its keys are mapped to ours; ignored (no equivalent "
                    "here): %s", source, ", ".join(ignored) or "none")
    for name, value in data.items():
        if not isinstance(value, dict):
            raise SettingsError(f"{source}: top-level key {name!r}: expected a [section]")
        origins.update((f"{name}.{key}", source) for key in value)
        origins[name] = source
    if _apply_env(data, environ, origins):
        source = f"{source} + FLOW2API_* environment"
    if "FLOW2API_DATA_DIR" in environ:
        data.setdefault("storage", {})["data_dir"] = environ["FLOW2API_DATA_DIR"]
        origins["storage.data_dir"] = "environment FLOW2API_DATA_DIR"
    core = {k: v for k, v in data.items() if k in CORE_SECTIONS}
    plugin = {k: MappingProxyType(dict(v)) for k, v in data.items() if k not in CORE_SECTIONS}
    settings = _validate(core, plugin, source, origins)
    log.info("settings loaded from %s (%d plugin sections)", source, len(plugin))
    return settings


class SettingsHolder:
    """The settings in force: ``current`` is swapped whole when an operator changes a section at run time.
    Readers take ``holder.current`` once per use and keep that snapshot (like the catalog)."""

    def __init__(self, settings: Settings) -> None:
        self.current = settings

    def update(self, **sections: Mapping[str, Any]) -> Settings:
        """Validate core ``sections`` (section name → changed keys) on top of the current settings and swap them in.

        Raises :class:`SettingsError` (current settings unchanged) when the result is invalid.
        """
        self.current = self.current.with_overrides(**sections)
        log.info("settings changed at run time: %s", ", ".join(f"[{name}]" for name in sections))
        return self.current

SETTINGS: Final = web.AppKey("settings", SettingsHolder)
