"""Planning a storyboard: the choice of planner (the plan's shape is :class:`~flow2api_storyboard.model.Plan`).

Both planners return a :class:`Plan`: the recurring characters with a visual description, and the
scenes in story order with ``title``, ``narration`` (the story text the scene covers), an image
``prompt`` and the names of the characters it shows. :func:`plan` uses the configured
OpenAI-compatible planner (:mod:`~flow2api_storyboard.text_planner`) when ``[storyboard]
text_base_url``/``text_api_key``/``text_model`` are set, else the built-in one
(:mod:`~flow2api_storyboard.builtin_planner`).
"""

from __future__ import annotations

import aiohttp

from flow2api_storyboard.builtin_planner import plan_builtin
from flow2api_storyboard.config import StoryboardConfig
from flow2api_storyboard.model import Plan, PlanningError
from flow2api_storyboard.text_planner import plan_with_text_model


async def plan(config: StoryboardConfig, http: aiohttp.ClientSession, story: str, scenes: int | None,
               style: str | None) -> Plan:
    """The plan of ``story`` (``scenes`` wanted, ``None``: the planner decides, at most 12).

    Raises :class:`PlanningError` with the reason."""
    if config.text_planner:
        return await plan_with_text_model(config, http, story, scenes, style)
    try:
        return plan_builtin(story, scenes)
    except ValueError as exc:
        raise PlanningError(str(exc)) from None
