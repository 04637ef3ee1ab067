"""reCAPTCHA token sources for the ``http`` executor: the VideoFX plugin's sources, reused (spec §8, §12).

The one place flowweb touches the VideoFX token-source API: the solver registry (built-ins
plus the ``flow2api_videofx.captcha`` entry-point group), :class:`CaptchaConfig` for the
``[flowweb_captcha]`` section, and the failover :class:`TokenChain`. Solver tokens are asked
for ``websiteURL = https://flow.google.com/project/<pid>`` and the site key that both hosts
share (spec §2.5, §8).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flow2api_videofx.captcha import SITE_KEY, CaptchaToken
from flow2api_videofx.captcha_chain import TokenChain, installed_sources
from flow2api_videofx.config import CaptchaConfig

__all__ = ["SITE_KEY", "CaptchaConfig", "CaptchaToken", "TokenChain", "build_chain", "captcha_problems"]


def captcha_problems(section: str, config: CaptchaConfig) -> list[str]:
    """Problems with the source names and source keys of a captcha section (empty when valid)."""
    sources = installed_sources()
    problems = []
    for key, method in [("captcha_method", config.captcha_method)] + [
        (f"fallback_methods[{i}]", m) for i, m in enumerate(config.fallback_methods)
    ]:
        if method not in sources:
            problems.append(f"[{section}] {key}: unknown token source {method!r} (installed: {', '.join(sorted(sources))})")
    for key in config.model_extra or {}:
        if not any(key.startswith(f"{name}_") for name in sources):
            problems.append(f"[{section}] {key}: unknown key")
    return problems


def build_chain(config: CaptchaConfig, registry: Mapping[str, Any] | None = None) -> TokenChain:
    """The failover chain of ``config``'s sources (sources with incomplete settings are left out, logged)."""
    return TokenChain.from_config(config, registry if registry is not None else installed_sources())
