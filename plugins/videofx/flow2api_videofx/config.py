"""The VideoFX plugin's settings sections, ``[flow]`` and ``[captcha]`` (original ``setting.toml`` names).

Defaults are the original project's HEAD defaults (spec §5.10); base URLs
default to Google's real hosts (spec §1.1). ``[captcha]`` is
:class:`flow2api_flowkit.config.CaptchaConfig`, shared with the flowweb
plugin: it is open to token sources added through the ``flow2api.captcha``
entry-point group (a key ``<source>_<name>`` belongs to the source called
``<source>``); any other unknown key is an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flow2api.plugin import PluginConfigError
from flow2api_flowkit.captcha_chain import captcha_problems
from flow2api_flowkit.config import CaptchaConfig, parse_section

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
    problems: list[str] = []
    flow = parse_section("flow", FlowConfig, sections.get("flow", {}), problems)
    captcha = parse_section("captcha", CaptchaConfig, sections.get("captcha", {}), problems)
    if captcha is not None:
        problems += captcha_problems("captcha", captcha, sources)
    if problems:
        raise PluginConfigError("; ".join(problems))
    assert flow is not None and captcha is not None  # else problems were listed
    return VideoFXConfig(flow=flow, captcha=captcha)
