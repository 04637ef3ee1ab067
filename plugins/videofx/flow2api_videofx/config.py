"""The VideoFX plugin's settings sections, ``[flow]`` and ``[captcha]`` (original ``setting.toml`` names).

Defaults are the original project's HEAD defaults (spec §5.10); base URLs
default to Google's real hosts (spec §1.1). ``[captcha]`` is open to token
sources added through the ``flow2api_videofx.captcha`` entry-point group: a
key ``<source>_<name>`` belongs to the source called ``<source>``, which reads
it from :attr:`CaptchaConfig.model_extra`; any other unknown key is an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from flow2api.plugin import PluginConfigError

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"
)


class FlowConfig(BaseModel):
    """``[flow]``: upstream endpoints, time limits (seconds), polling (spec §3.2) and project pool (§5.8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labs_base_url: str = "https://labs.google/fx/api"
    api_base_url: str = "https://aisandbox-pa.googleapis.com/v1"
    page_base_url: str = Field(
        "https://labs.google/fx/tools/flow/project/", description="project page URL prefix (Referer, reCAPTCHA websiteURL)"
    )
    timeout: float = Field(120, gt=0)
    control_timeout: float = Field(10, gt=0)
    image_request_timeout: float = Field(40, gt=0)
    image_upsample_timeout: float = Field(300, gt=0)
    video_submit_timeout: float = Field(75, gt=0)
    video_poll_timeout: float = Field(45, gt=0)
    media_timeout: float = Field(60, gt=0, description="GET {api}/media/<name> (base64 video), spec §2.17")
    poll_interval: float = Field(3, gt=0, description="seconds between status calls of one account (§3.2)")
    max_poll_attempts: int = Field(200, ge=1, description="status polls per video job; x3 for upsampled models")
    stuck_active_polls: int = Field(80, ge=1, description="give up when a job is still ACTIVE after this many polls")
    max_poll_errors: int = Field(3, ge=1, description="consecutive failed status polls that fail the job")
    status_batch_size: int = Field(100, ge=1, description="media per status call; more in-flight media = more calls")
    progress_every: int = Field(7, ge=1, description="emit a progress event every this many polls (§3.2 rule 6)")
    concat_timeout: float = Field(300, gt=0, description="seconds to wait for a concatenation (§2.20)")
    max_retries: int = Field(3, ge=1, description="attempts per account with a fresh reCAPTCHA token each")
    captcha_retry_delay: float = Field(2, ge=0, description="seconds before retrying a rejected reCAPTCHA token")
    at_refresh_margin: float = Field(3600, ge=0, description="refresh the AT when it expires within this many seconds")
    check_interval: float = Field(
        300, ge=0, description="seconds after which VideoFXFamily.check_due says credits/tier should be re-read"
    )
    project_pool_size: int = Field(4, ge=1)
    user_agent: str = DEFAULT_USER_AGENT


class CaptchaConfig(BaseModel):
    """``[captcha]``: where reCAPTCHA Enterprise tokens come from (spec §1.6), first method first.

    ``captcha_method`` and ``fallback_methods`` name token sources of the
    registry (built-ins: ``none``, ``yescaptcha``, ``capmonster``,
    ``ezcaptcha``, ``capsolver``; more through the ``flow2api_videofx.captcha``
    entry-point group). YesCaptcha's ``ERROR_NO_SLOT_AVAILABLE`` back-off is
    ``yescaptcha_no_slot_backoff`` (seconds per retry) and
    ``yescaptcha_no_slot_block_backoff`` for the ``_BLOCK`` variant (spec §1.6).
    ``solver_attempts`` is how many tasks one token may take when a task fails
    or the solver cannot be reached (ours; the spec's client gives up at once).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    captcha_method: str = "yescaptcha"
    fallback_methods: list[str] = Field(default_factory=list)
    yescaptcha_api_key: SecretStr = SecretStr("")
    yescaptcha_base_url: str = "https://api.yescaptcha.com"
    yescaptcha_task_type: str = "RecaptchaV3TaskProxylessM1S9"
    yescaptcha_no_slot_backoff: list[float] = Field(default_factory=lambda: [3, 5, 8, 13, 20])
    yescaptcha_no_slot_block_backoff: float = Field(20, ge=0)
    capmonster_api_key: SecretStr = SecretStr("")
    capmonster_base_url: str = "https://api.capmonster.cloud"
    ezcaptcha_api_key: SecretStr = SecretStr("")
    ezcaptcha_base_url: str = "https://api.ez-captcha.com"
    capsolver_api_key: SecretStr = SecretStr("")
    capsolver_base_url: str = "https://api.capsolver.com"
    solver_poll_interval: float = Field(3, gt=0, description="seconds between getTaskResult calls")
    solver_max_polls: int = Field(40, ge=1)
    solver_attempts: int = Field(3, ge=1, description="solves per token when a task fails or the solver is unreachable")

    def source_settings(self, source: str) -> dict[str, Any]:
        """The extra keys ``<source>_*`` of a third-party source, prefix stripped (``{"api_key": …}``)."""
        prefix = f"{source}_"
        return {k[len(prefix):]: v for k, v in (self.model_extra or {}).items() if k.startswith(prefix)}


class VideoFXConfig(BaseModel):
    """Both sections together, as the providers use them."""

    model_config = ConfigDict(frozen=True)

    flow: FlowConfig
    captcha: CaptchaConfig


def load_config(sections: Mapping[str, Mapping[str, Any]], *, sources: Collection[str]) -> VideoFXConfig:
    """Validate ``[flow]`` and ``[captcha]``; raises ``PluginConfigError`` naming section and key.

    ``sources`` are the token source names installed (the captcha registry):
    ``captcha_method``/``fallback_methods`` must name one, and an unknown
    ``[captcha]`` key must start with one's name and ``_``.
    """
    problems = []
    parsed: dict[str, BaseModel] = {}
    for name, model in (("flow", FlowConfig), ("captcha", CaptchaConfig)):
        try:
            parsed[name] = model.model_validate(dict(sections.get(name, {})))
        except ValidationError as exc:
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"])
                reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                problems.append(f"[{name}] {key}: {reason}")
    captcha = parsed.get("captcha")
    if isinstance(captcha, CaptchaConfig):
        known = sorted(sources)
        for key, method in [("captcha_method", captcha.captcha_method)] + [
            (f"fallback_methods[{i}]", m) for i, m in enumerate(captcha.fallback_methods)
        ]:
            if method not in sources:
                problems.append(f"[captcha] {key}: unknown token source {method!r} (installed: {', '.join(known)})")
        for key in captcha.model_extra or {}:
            if not any(key.startswith(f"{source}_") for source in sources):
                problems.append(f"[captcha] {key}: unknown key")
    if problems:
        raise PluginConfigError("; ".join(problems))
    return VideoFXConfig(**parsed)
