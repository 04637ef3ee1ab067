"""The VideoFX plugin's settings sections, ``[flow]`` and ``[captcha]`` (original ``setting.toml`` names).

Defaults are the original project's HEAD defaults (spec §5.10); base URLs
default to Google's real hosts (spec §1.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from flow2api.plugin import PluginConfigError

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"
)


class FlowConfig(BaseModel):
    """``[flow]``: upstream endpoints, time limits (seconds), polling and project pool."""

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
    poll_interval: float = Field(3, gt=0)
    max_poll_attempts: int = Field(200, ge=1)
    max_retries: int = Field(3, ge=1, description="attempts per account with a fresh reCAPTCHA token each")
    at_refresh_margin: float = Field(3600, ge=0, description="refresh the AT when it expires within this many seconds")
    project_pool_size: int = Field(4, ge=1)
    user_agent: str = DEFAULT_USER_AGENT


CaptchaMethod = Literal["none", "yescaptcha", "capmonster", "ezcaptcha", "capsolver"]


class CaptchaConfig(BaseModel):
    """``[captcha]``: where reCAPTCHA Enterprise tokens come from (spec §1.6), first method first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    captcha_method: CaptchaMethod = "yescaptcha"
    fallback_methods: list[CaptchaMethod] = Field(default_factory=list)
    yescaptcha_api_key: SecretStr = SecretStr("")
    yescaptcha_base_url: str = "https://api.yescaptcha.com"
    yescaptcha_task_type: str = "RecaptchaV3TaskProxylessM1S9"
    capmonster_api_key: SecretStr = SecretStr("")
    capmonster_base_url: str = "https://api.capmonster.cloud"
    ezcaptcha_api_key: SecretStr = SecretStr("")
    ezcaptcha_base_url: str = "https://api.ez-captcha.com"
    capsolver_api_key: SecretStr = SecretStr("")
    capsolver_base_url: str = "https://api.capsolver.com"
    solver_poll_interval: float = Field(3, gt=0, description="seconds between getTaskResult calls")
    solver_max_polls: int = Field(40, ge=1)


class VideoFXConfig(BaseModel):
    """Both sections together, as the providers use them."""

    model_config = ConfigDict(frozen=True)

    flow: FlowConfig
    captcha: CaptchaConfig


def load_config(sections: Mapping[str, Mapping[str, Any]]) -> VideoFXConfig:
    """Validate ``[flow]`` and ``[captcha]``; raises ``PluginConfigError`` naming section and key."""
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
    if problems:
        raise PluginConfigError("; ".join(problems))
    return VideoFXConfig(**parsed)
