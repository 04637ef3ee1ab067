"""The flowweb plugin's settings: ``[flowweb]`` and its reCAPTCHA sources ``[flowweb_captcha]``.

``[flowweb_captcha]`` takes the same keys as the VideoFX ``[captcha]`` section (both are
:class:`flow2api_flowkit.config.CaptchaConfig`; the token sources are shared, spec §8); when it is absent, ``[captcha]`` is used, so one solver
configuration serves both families unless the operator separates them.

The ``*_layout``-style keys choose between the conflicting readings listed in spec §13; each
default is the version the spec prefers (seen live), the other is kept for when Google or a
later measurement proves it right. README.md lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from flow2api.plugin import PluginConfigError
from flow2api_flowkit.captcha_chain import captcha_problems, installed_sources
from flow2api_flowkit.config import CaptchaConfig, parse_section

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"
)

SECTION = "flowweb"
CAPTCHA_SECTION = "flowweb_captcha"


class FlowWebConfig(BaseModel):
    """``[flowweb]``: host, executor, time limits (seconds), polling, projects and spec §13 alternatives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field("https://flow.google.com", description="where pages and batchexecute are requested")
    cookie_url: str = Field(
        "https://flow.google.com", description="the URL cookies are chosen for (domain, path, secure), whatever base_url is"
    )
    executor: Literal["http", "browser"] = Field(
        "http", description="http: direct requests (writes experimental, spec §8); browser: the MV3 extension"
    )
    hl: str = "en"
    user_agent: str = DEFAULT_USER_AGENT
    control_timeout: float = Field(20, gt=0, description="reads: page bootstrap, credits, status, media")
    write_timeout: float = Field(120, gt=0, description="submits and uploads; ogiZ0b is held open 20-40 s (spec §5.1)")
    poll_interval: float = Field(5, gt=0, description="seconds between batched jwpduf polls (the web app's 5 s, spec §6.1)")
    max_poll_attempts: int = Field(240, ge=1)
    url_wait_attempts: int = Field(10, ge=1, description="as29s reads after status 3 until the signed URL exists (spec §6.1)")
    bootstrap_max_age: float = Field(1800, ge=0, description="re-read at / f.sid / bl from the page after this many seconds")
    project_pool_size: int = Field(4, ge=1)
    model_catalogue_ttl: float = Field(3600, gt=0, description="seconds an account's HTrJv model catalogue is kept "
                                       "before it is read again for the extend and upsampler keys (spec §10)")
    captcha_attempts: int = Field(2, ge=1, description="tries per account with a fresh reCAPTCHA token after unusual activity")
    executor_token: SecretStr = Field(SecretStr(""), description="shared secret the browser extension authenticates with")
    browser_timeout: float = Field(240, gt=0, description="seconds a browser may take to execute one request")
    max_upload_video_bytes: int = Field(50 * 1024 * 1024, ge=1, description="largest video a user may upload to edit "
                                        "(qzent's 50 MiB; Google's own limit is not documented, spec §14.2)")
    max_edit_seconds: float = Field(10, gt=0, description="longest source a whole-clip edit takes (qzent's ranges stop "
                                    "at 10 s, spec §14.1)")
    upload_chunk_bytes: int = Field(8 * 1024 * 1024, ge=1, description="bytes per resumable-upload chunk, rounded "
                                    "down to the server's granularity (GO caps at 8 MiB, spec §14.2)")
    # spec §13 conflicts: default = version A (preferred, [live]); the other value = version B
    image_aspect_layout: Literal["measured", "swapped"] = "measured"
    resolution_encoding: Literal["option", "int"] = "option"
    upscale_output_id: Literal["suffix", "seed"] = "suffix"
    upload_captcha_action: Literal["IMAGE_GENERATION", "UPLOAD_IMAGE"] = "IMAGE_GENERATION"
    status_4: Literal["complaint", "failure"] = "complaint"
    video_trailer: Literal["per_mode", "always_2"] = "per_mode"
    frame_crop: Literal["full", "none"] = "full"

    @property
    def origin(self) -> str:
        """``base_url`` without a trailing slash."""
        return self.base_url.rstrip("/")


class FlowWebSettings(BaseModel):
    """Both sections as the plugin uses them."""

    model_config = ConfigDict(frozen=True)

    flowweb: FlowWebConfig
    captcha: CaptchaConfig


def load_config(sections: Mapping[str, Mapping[str, Any]]) -> FlowWebSettings:
    """Validate ``[flowweb]`` and ``[flowweb_captcha]`` (else ``[captcha]``); ``PluginConfigError`` names section and key."""
    captcha_name = CAPTCHA_SECTION if CAPTCHA_SECTION in sections else "captcha"
    problems: list[str] = []
    flowweb = parse_section(SECTION, FlowWebConfig, sections.get(SECTION, {}), problems)
    captcha = parse_section(captcha_name, CaptchaConfig, sections.get(captcha_name, {}), problems)
    if captcha is not None:
        problems += captcha_problems(captcha_name, captcha, installed_sources())
    if problems:
        raise PluginConfigError("; ".join(problems))
    assert flowweb is not None and captcha is not None  # else problems were listed
    return FlowWebSettings(flowweb=flowweb, captcha=captcha)
