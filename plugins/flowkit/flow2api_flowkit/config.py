"""The ``[captcha]`` settings model both Flow families read: where reCAPTCHA Enterprise tokens come from.

The keys and defaults are the original ``setting.toml`` names (spec §1.6, §5.10). VideoFX reads
the section ``[captcha]``; flowweb reads ``[flowweb_captcha]`` and falls back to ``[captcha]``.
The section is open to token sources added through the ``flow2api.captcha`` entry-point group
(:mod:`flow2api_flowkit.captcha_chain`): a key ``<source>_<name>`` belongs to the source called
``<source>``, which reads it from :meth:`CaptchaConfig.source_settings`; any other unknown key
is reported by :func:`flow2api_flowkit.captcha_chain.captcha_problems`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

SectionModel = TypeVar("SectionModel", bound=BaseModel)


def parse_section(name: str, model: type[SectionModel], values: Mapping[str, Any],
                  problems: list[str]) -> SectionModel | None:
    """``values`` of the settings section ``[name]`` validated as ``model``; None when invalid.

    Each problem is appended to ``problems`` as ``[name] key: reason`` (``unknown key`` for a key an
    ``extra="forbid"`` model does not declare), the form the families' ``PluginConfigError`` lists.
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"[{name}] {key}: {reason}")
        return None


class CaptchaConfig(BaseModel):
    """``[captcha]``: where reCAPTCHA Enterprise tokens come from (spec §1.6), first method first.

    ``captcha_method`` and ``fallback_methods`` name token sources of the
    registry (built-ins: ``none``, ``yescaptcha``, ``capmonster``,
    ``ezcaptcha``, ``capsolver``; more through the ``flow2api.captcha``
    entry-point group). YesCaptcha's ``ERROR_NO_SLOT_AVAILABLE`` back-off is
    ``yescaptcha_no_slot_backoff`` (seconds per retry) and
    ``yescaptcha_no_slot_block_backoff`` for the ``_BLOCK`` variant (spec §1.6).
    ``solver_attempts`` is how many tasks one token may take when a task fails
    or the solver cannot be reached (ours; the spec's client gives up at once).
    Times are seconds.
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
