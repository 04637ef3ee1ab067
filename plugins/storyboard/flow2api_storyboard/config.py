"""The ``[storyboard]`` settings section (docs/storyboards.md lists every key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from flow2api.plugin import PluginConfigError

SECTION = "storyboard"


class StoryboardConfig(BaseModel):
    """``[storyboard]``: the default image model and image-to-video model (a scene's clip), parallelism, limits
    and the optional text planner.

    With ``text_base_url``, ``text_api_key`` and ``text_model`` all set, scenes are planned by that
    OpenAI-compatible chat-completions endpoint (OpenRouter, a local server …); otherwise by the built-in
    planner (no network).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_model: str = Field("gemini-3.1-flash-image", min_length=1, description="default image model id or alias")
    video_model: str = Field("veo_3_1_i2v_s_fast_fl", min_length=1,
                             description="default image-to-video model or alias of a scene's clip (size: the aspect)")
    max_parallel: int = Field(3, ge=1, le=16, description="scene images generated at once per storyboard")
    max_story_chars: int = Field(50_000, ge=100, le=500_000, description="longest story accepted, characters")
    max_references: int = Field(3, ge=0, le=10,
                                description="reference images per scene at most (and at most the model's limit)")
    text_base_url: str = Field("", description="OpenAI-compatible base URL, e.g. https://openrouter.ai/api/v1")
    text_api_key: SecretStr = Field(SecretStr(""), description="API key of the text endpoint")
    text_model: str = Field("", description="chat model id of the text endpoint")
    text_timeout: float = Field(120.0, gt=0, le=600, description="seconds one planning call may take")

    @property
    def text_planner(self) -> bool:
        """Whether the configured OpenAI-compatible planner is used (all three text keys set)."""
        return bool(self.text_base_url and self.text_api_key.get_secret_value() and self.text_model)


def load_config(sections: Mapping[str, Mapping[str, Any]]) -> StoryboardConfig:
    """Validate ``[storyboard]``; raises :class:`PluginConfigError` naming the key (never a secret value)."""
    try:
        return StoryboardConfig.model_validate(dict(sections.get(SECTION, {})))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PluginConfigError(f"[{SECTION}] {problems}") from None
