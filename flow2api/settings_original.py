"""The original flow2api's ``config/setting.toml`` layout, mapped onto ours (issue 19, "Coming from the original").

:data:`ORIGINAL_KEYS` is the one table: every ``(section, key)`` of the original's file (spec
``flow-upstream.md`` §5.12, names and meanings from the original at HEAD) → where it goes here, or why
it is ignored. :func:`flow2api.settings.load_settings` asks :func:`is_original_layout` about every
file it reads and, for an original one, loads :func:`translate`'s result and names each ignored key in
one warning line. ``flow2api import-original`` runs the settings tables of the original's
``data/flow.db`` through the same table (:mod:`flow2api.original_import`). docs/migrating.md shows the
table to operators.

Values are never logged: a warning names keys only (``api_key``, ``admin_password`` and the solvers'
keys are secrets). The only value that is looked at is the ``call_mode`` and ``captcha_method`` word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

CAPTCHA_GROUP = "flow2api.captcha"  # the entry-point group of reCAPTCHA token sources (flow2api-flowkit)


class Unmapped(Exception):
    """A value with no equivalent here (``str()`` says why, without the value unless it is a mode word)."""


Convert = Callable[[Any, frozenset[str]], Any]


def _same(value: Any, _sources: frozenset[str]) -> Any:
    return value


def _call_mode(value: Any, _sources: frozenset[str]) -> Any:
    # The original's "default" picks a random token (spec §5.12); ours ("default") is least busy.
    return {"default": "random"}.get(value, value)


def _debug_level(value: Any, _sources: frozenset[str]) -> Any:
    if value is True:
        return "DEBUG"
    raise Unmapped("off: the [logging] level stays as configured")


def _captcha_method(value: Any, sources: frozenset[str]) -> Any:
    if value in sources:
        return value
    raise Unmapped(f"{value!r} is not an installed reCAPTCHA source")


@dataclass(frozen=True, slots=True)
class Rule:
    """Where one original key goes: ``target`` ``(section, key)`` here, or ``None`` (ignored, ``why``).

    ``convert(value, installed captcha sources)`` gives our value or raises :class:`Unmapped`;
    ``source`` names the reCAPTCHA source a key belongs to: kept only when it is installed.
    """

    target: tuple[str, str] | None
    why: str = ""
    convert: Convert = _same
    source: str | None = None


def _keep(section: str, keys: str, *, to: str | None = None, source: str | None = None) -> dict[tuple[str, str], Rule]:
    return {(section, key): Rule((to or section, key), source=source) for key in keys.split()}


def _drop(section: str, keys: str, why: str) -> dict[tuple[str, str], Rule]:
    return {(section, key): Rule(None, why) for key in keys.split()}


# (original section, original key) → rule; spec §5.12 lists these keys.
ORIGINAL_KEYS: dict[tuple[str, str], Rule] = {
    **_keep("global", "api_key admin_username admin_password"),
    **_keep("flow", "labs_base_url api_base_url timeout max_retries image_request_timeout poll_interval "
                    "max_poll_attempts"),
    **_keep("flow", "image_slot_wait_timeout video_slot_wait_timeout", to="generation"),
    **_drop("flow", "image_timeout_retry_count image_timeout_retry_delay image_timeout_use_media_proxy_fallback "
                    "image_prefer_media_proxy", "image retries are [generation] max_retries (other accounts) and "
                    "[flow] max_retries; no media proxy"),
    **_drop("flow", "image_launch_soft_limit image_launch_wait_timeout image_launch_stagger_ms "
                    "video_launch_soft_limit video_launch_wait_timeout video_launch_stagger_ms",
            "launches are limited per account (image_concurrency/video_concurrency) and by [rate_limit]"),
    **_keep("server", "host port"),
    ("debug", "enabled"): Rule(("logging", "level"), convert=_debug_level),
    **_drop("debug", "log_requests log_responses mask_token",
            "the request log is always kept (admin site), secrets are always masked"),
    **_keep("proxy", "proxy_enabled proxy_url"),
    **_keep("generation", "image_timeout video_timeout"),
    ("call_logic", "call_mode"): Rule(("call_logic", "call_mode"), convert=_call_mode),
    **_keep("admin", "error_ban_threshold"),
    **_drop("cache", "enabled", "results are always cached and served under /media/"),
    **_keep("cache", "timeout base_url"),
    ("captcha", "captcha_method"): Rule(("captcha", "captcha_method"), convert=_captcha_method),
    **_keep("captcha", "yescaptcha_api_key yescaptcha_base_url yescaptcha_task_type capmonster_api_key "
                       "capmonster_base_url ezcaptcha_api_key ezcaptcha_base_url capsolver_api_key capsolver_base_url"),
    **_keep("captcha", "remote_browser_base_url remote_browser_api_key remote_browser_timeout",
            source="remote_browser"),
    **_keep("captcha", "browser_recaptcha_settle_seconds browser_count browser_captcha_max_retries "
                       "browser_captcha_generation_retries browser_personal_fresh_restart_every_n_solves",
            source="browser"),
    **_keep("captcha", "personal_max_resident_tabs personal_idle_tab_ttl_seconds", source="personal"),
    ("captcha", "personal_project_pool_size"): Rule(("flow", "project_pool_size")),
}


def installed_captcha_sources() -> frozenset[str]:
    """Names of the installed reCAPTCHA token sources (entry points; no plugin is imported)."""
    return frozenset(ep.name for ep in entry_points(group=CAPTCHA_GROUP))


def _pairs(data: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for section, values in data.items():
        if isinstance(values, Mapping):
            yield from ((section, key) for key in values)


def is_original_layout(data: Mapping[str, Any]) -> bool:
    """Whether parsed TOML ``data`` is the original's layout: it holds a key ours does not have under that name
    (``[cache] enabled``, ``[debug] …``, ``[flow] image_slot_wait_timeout`` …). A file of only shared names
    (``[server] port``) reads the same either way."""
    return any(pair in ORIGINAL_KEYS and ORIGINAL_KEYS[pair].target != pair for pair in _pairs(data))


def translate(
    data: Mapping[str, Mapping[str, Any]], *, sources: frozenset[str] | None = None, keep_unknown: bool = True,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Our sections for the original's ``{section: {key: value}}``, and the ignored keys as ``[section] key``
    lines (with the reason in parentheses where a value is the reason: a solver not installed).

    A key the table does not know is passed through unchanged when ``keep_unknown`` (a file mixing both
    layouts; our validation then judges it), else ignored (the database's extra columns). ``sources``
    defaults to the installed reCAPTCHA sources. Where a rename meets a key already set under our name,
    ours wins.
    """
    sources = installed_captcha_sources() if sources is None else sources
    ours: dict[str, dict[str, Any]] = {}
    renamed: dict[str, dict[str, Any]] = {}
    ignored: list[str] = []
    if keep_unknown:  # a stray top-level value stays, so the settings loader still reports it
        ours.update({name: value for name, value in data.items() if not isinstance(value, Mapping)})  # type: ignore[misc]
    for section, key in _pairs(data):
        value = data[section][key]
        rule = ORIGINAL_KEYS.get((section, key))
        if rule is None:
            if keep_unknown:
                ours.setdefault(section, {})[key] = value
            else:
                ignored.append(f"[{section}] {key}")
            continue
        if rule.target is None or (rule.source and rule.source not in sources):
            ignored.append(f"[{section}] {key}")
            continue
        try:
            converted = rule.convert(value, sources)
        except Unmapped as exc:
            ignored.append(f"[{section}] {key} ({exc})")
            continue
        target = ours if rule.target == (section, key) else renamed
        target.setdefault(rule.target[0], {})[rule.target[1]] = converted
    for section, values in renamed.items():
        for key, value in values.items():
            ours.setdefault(section, {}).setdefault(key, value)
    return ours, ignored


def markdown_table() -> str:
    """The mapping as a markdown table (docs/migrating.md is checked against it by the tests)."""
    rows = ["| original | here | note |", "|---|---|---|"]
    for (section, key), rule in ORIGINAL_KEYS.items():
        here = f"`[{rule.target[0]}] {rule.target[1]}`" if rule.target else "ignored"
        note = rule.why or (f"kept when the `{rule.source}` reCAPTCHA source is installed" if rule.source else "")
        if rule.convert is _call_mode:
            note = "`default` (random in the original) becomes `random`"
        elif rule.convert is _debug_level:
            note = "`true` sets `DEBUG`"
        elif rule.convert is _captcha_method:
            note = "kept when that reCAPTCHA source is installed"
        rows.append(f"| `[{section}] {key}` | {here} | {note} |")
    return "\n".join(rows)
