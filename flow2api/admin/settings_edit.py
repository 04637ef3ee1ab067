"""Which settings the admin site may change, how they are shown, and applying a change.

Core sections are described by the pydantic models of :mod:`flow2api.settings`
and applied at once through ``app[SETTINGS].update(...)`` (the same validation
as the file); everything reading ``holder.current`` sees the change on its
next use. Restart-only core keys (:data:`RESTART_ONLY`: the media cache's
``timeout`` and ``max_bytes``, the Videos API worker count — read once at
start-up) are stored and marked.

Plugin sections (``[flow]``, ``[captcha]`` …) are the sections the installed
account families claim. Providers read them once when they are built, so a
change is validated by building the providers again with the candidate
sections (a provider's class is its factory) and then stored; it applies
after a restart and the page says so. Field types come from the provider's
validated ``config`` model when it exposes one (duck-typed: a pydantic model
with one field per section), else from the raw values in the file.

Secrets (``SecretStr`` fields, the proxy URL, which may carry a password)
are write-only: shown as "set"/"not set", an empty input keeps the value.
"""

from __future__ import annotations

import logging
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from flow2api.admin.overrides import SettingsOverrides
from flow2api.discovery import build_providers, families_of
from flow2api.plugin import Provider
from flow2api.settings import Settings, SettingsError, SettingsHolder

log = logging.getLogger(__name__)

# core section → editable keys (None = every key of the section)
CORE_EDITABLE: dict[str, tuple[str, ...] | None] = {
    "generation": None,
    "call_logic": None,
    "rate_limit": None,
    "admin": ("error_ban_threshold", "ban_on_upstream_errors", "rate_limit_cooldown", "session_idle_timeout"),
    "proxy": None,
    "cache": None,
    "global": ("api_key",),
}
# core keys read once when something is built at start-up (the media cache, the video worker pool)
RESTART_ONLY = frozenset({("cache", "timeout"), ("cache", "max_bytes"), ("generation", "video_workers")} | {
    ("cache", key) for key in ("backend", "sweep_interval", "s3_endpoint_url", "s3_bucket", "s3_region", "s3_prefix",
                               "s3_access_key_id", "s3_secret_access_key")})
WRITE_ONLY = frozenset({("proxy", "proxy_url")})
_SECRET_WORDS = ("key", "token", "secret", "password")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One editable setting as the settings page and ``GET /api/settings`` show it.

    ``kind``: ``bool``, ``int``, ``float``, ``str``, ``choice``, ``list`` or
    ``secret``; ``value`` is the value in force (``None`` for secrets, whose
    ``is_set`` says whether one is configured); ``live`` False means "applies
    after restart"; ``pending`` marks a stored change not yet in force.
    """

    section: str
    key: str
    kind: str
    value: Any
    is_set: bool
    live: bool
    description: str = ""
    choices: tuple[str, ...] = ()
    pending: bool = False
    annotation: Any = None
    current: Any = None  # the value in force, secrets included: for comparisons only, never rendered

    def as_json(self) -> dict[str, Any]:
        """The JSON form (no annotation; secrets never carry a value)."""
        return {
            "section": self.section, "key": self.key, "kind": self.kind, "value": self.value, "set": self.is_set,
            "applies": "now" if self.live else "after restart", "pending": self.pending,
            "description": self.description, "choices": list(self.choices),
        }


def _kind(annotation: Any, section: str, key: str) -> tuple[str, tuple[str, ...]]:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation is SecretStr or SecretStr in args or (section, key) in WRITE_ONLY:
        return "secret", ()
    if typing.get_origin(annotation) is typing.Literal:
        return "choice", tuple(str(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return "list", ()
    for python_type, kind in ((bool, "bool"), (int, "int"), (float, "float")):
        if annotation is python_type:
            return kind, ()
    return "str", ()


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _core_model(settings: Settings, section: str) -> BaseModel:
    return getattr(settings, "global_" if section == "global" else section)


def plugin_models(providers: Mapping[str, Provider]) -> dict[str, BaseModel]:
    """Validated plugin sections found on providers (``provider.config.<section>``), by section name."""
    found: dict[str, BaseModel] = {}
    for provider in providers.values():
        config = provider.config
        if config is None:
            continue
        for name, value in config:  # a pydantic model iterates as (field name, value) pairs
            if isinstance(value, BaseModel):
                found.setdefault(name, value)
    return found


class SettingsEditor:
    """Lists editable settings and applies changes to the holder (core) or the stored plugin sections.

    ``providers`` are the running providers; ``overrides`` persists what
    changed; ``pending`` remembers stored keys since start that apply after a
    restart.
    """

    def __init__(self, holder: SettingsHolder, providers: Mapping[str, Provider], overrides: SettingsOverrides) -> None:
        self.holder = holder
        self.providers = providers
        self.overrides = overrides
        self.pending: set[tuple[str, str]] = set()

    def plugin_sections(self) -> list[str]:
        """Sections claimed by the installed account families, in family order."""
        names: list[str] = []
        for family in families_of(self.providers).values():
            names += [s for s in family.config_sections if s not in names]
        return names

    def fields(self) -> list[FieldSpec]:
        """Every editable setting, core sections first."""
        settings = self.holder.current
        out: list[FieldSpec] = []
        for section, keys in CORE_EDITABLE.items():
            if section != "global" and section not in type(settings).model_fields:
                continue
            model = _core_model(settings, section)
            for key, info in type(model).model_fields.items():
                if keys is not None and key not in keys:
                    continue
                out.append(self._spec(section, key, info.annotation, getattr(model, key), info.description or "",
                                      live=(section, key) not in RESTART_ONLY))
        models = plugin_models(self.providers)
        for section in self.plugin_sections():
            model = models.get(section)
            raw = dict(settings.plugin_sections.get(section, {}))
            if model is not None:
                for key, info in type(model).model_fields.items():
                    out.append(self._spec(section, key, info.annotation, getattr(model, key), info.description or "", live=False))
            else:
                for key, value in raw.items():
                    secret = any(word in key for word in _SECRET_WORDS)
                    annotation = SecretStr if secret else type(value)
                    out.append(self._spec(section, key, annotation, value, "", live=False))
        return out

    def _spec(self, section: str, key: str, annotation: Any, value: Any, description: str, *, live: bool) -> FieldSpec:
        kind, choices = _kind(annotation, section, key)
        plain = _plain(value)
        return FieldSpec(
            section=section, key=key, kind=kind, value=None if kind == "secret" else plain, is_set=bool(plain),
            live=live, description=description, choices=choices, pending=(section, key) in self.pending,
            annotation=annotation, current=plain,
        )

    async def apply(self, changes: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
        """Validate, apply and persist ``{section: {key: value}}``; returns the changed keys per section.

        Raises :class:`SettingsError` (nothing applied, nothing stored); see :meth:`plan`.
        """
        changed = self.plan(changes)
        core_changed = {s: v for s, v in changed.items() if s in CORE_EDITABLE}
        if core_changed:
            self.holder.update(**core_changed)
        for section, values in changed.items():
            await self.overrides.save(section, values)
            self.pending |= {(section, k) for k in values if section not in CORE_EDITABLE or (section, k) in RESTART_ONLY}
        return {section: sorted(values) for section, values in changed.items()}

    async def reload(self) -> list[str]:
        """Take up core settings another process stored (another instance's admin site): the stored values that
        differ from those in force are applied to the holder; returns the sections changed. Invalid ones are
        logged and left out (as at start-up)."""
        current = self.holder.current
        changed: dict[str, dict[str, Any]] = {}
        for section, values in (await self.overrides.load()).items():
            if section not in CORE_EDITABLE:
                continue  # plugin sections apply after a restart, as when changed here
            model = _core_model(current, section)
            for key, value in values.items():
                if hasattr(model, key) and _plain(getattr(model, key)) != value:
                    changed.setdefault(section, {})[key] = value
        for section, values in changed.items():
            try:
                self.holder.update(**{section: values})
            except SettingsError as exc:
                log.error("stored settings of [%s] are not valid and are ignored: %s", section, exc)
        return sorted(changed)

    def plan(self, changes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Validate ``{section: {key: value}}``; returns what differs from the settings in force, values JSON-able.

        Core keys are validated by the settings models; plugin keys by building
        the providers again (they apply after a restart). Raises :class:`SettingsError`
        (nothing applied) for an unknown or read-only key or an invalid value;
        the message names section and key, never a value.
        """
        specs = {(f.section, f.key): f for f in self.fields()}
        current = self.holder.current
        core: dict[str, dict[str, tuple[Any, FieldSpec]]] = {}
        plugin: dict[str, dict[str, tuple[Any, FieldSpec]]] = {}
        problems: list[str] = []
        for section, values in changes.items():
            if not isinstance(values, Mapping):
                problems.append(f"[{section}]: expected an object of keys")
                continue
            for key, value in values.items():
                spec = specs.get((section, key))
                if spec is None:
                    problems.append(f"[{section}] {key}: not a setting the admin site may change")
                    continue
                target = core if section in CORE_EDITABLE else plugin
                try:
                    target.setdefault(section, {})[key] = (self._coerce(spec, value), spec)
                except ValueError as exc:
                    problems.append(f"[{section}] {key}: {exc}")
        if problems:
            raise SettingsError("; ".join(problems))
        core_values = {s: {k: v for k, (v, _) in values.items()} for s, values in core.items()}
        candidate = current.with_overrides(**core_values) if core_values else current
        changed: dict[str, dict[str, Any]] = {}
        for section, values in core.items():
            model = _core_model(candidate, section)
            for key, (_, spec) in values.items():
                if _plain(getattr(model, key)) != spec.current:
                    changed.setdefault(section, {})[key] = _plain(getattr(model, key))
        for section, values in plugin.items():
            for key, (value, spec) in values.items():
                if value != spec.current:
                    changed.setdefault(section, {})[key] = value
        plugin_changed = {s: v for s, v in changed.items() if s not in CORE_EDITABLE}
        if plugin_changed:
            self._validate_plugins(candidate.with_plugin_sections(plugin_changed))
        return changed

    def _coerce(self, spec: FieldSpec, value: Any) -> Any:
        if spec.section in CORE_EDITABLE:
            return value  # validated by the settings model with the rest of the section
        if isinstance(value, str) and spec.kind == "list":
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, str) and spec.annotation is not None and spec.kind not in ("str", "secret", "choice"):
            value = value.strip()
        try:
            if spec.annotation is not None and spec.annotation not in (str, SecretStr):
                return _plain(TypeAdapter(spec.annotation).validate_python(value))
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"]) from None
        if isinstance(value, str) and spec.kind != "secret" and spec.annotation is None:
            try:
                return tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                return value
        return _plain(value)

    def _validate_plugins(self, candidate: Settings) -> None:
        factories = {name: type(provider) for name, provider in self.providers.items()}
        try:
            build_providers(candidate, factories)
        except SettingsError:
            raise
        except Exception:  # a factory that is not the provider's class: checked at the next start instead
            log.warning("plugin settings could not be validated now; they are checked at the next start")

SETTINGS_EDITOR: Final = web.AppKey("settings_editor", SettingsEditor)
