"""The configured planner: an OpenAI-compatible chat-completions endpoint asked for the plan as JSON.

One call ``POST <text_base_url>/chat/completions`` (``Authorization: Bearer <text_api_key>``, ``model``
``text_model``, ``response_format: {"type": "json_object"}``, as OpenAI, OpenRouter and llama.cpp /
vLLM servers take it). The answer's ``choices[0].message.content`` must be a JSON object that validates
as :class:`~flow2api_storyboard.model.Plan` (a Markdown code fence around it is tolerated) with the
requested number of scenes. When it does not, the model is asked once more with the validation error
(one repair round-trip, the conversation continued); a second invalid answer fails planning with the
reason. Transport errors and non-2xx answers fail planning at once (the storyboard shows the reason;
the user creates it again).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
from pydantic import ValidationError

from flow2api_storyboard.config import StoryboardConfig
from flow2api_storyboard.model import MAX_SCENES, Plan, PlanningError

log = logging.getLogger(__name__)

DEFAULT_MAX = 12
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)

SYSTEM = """You split stories into storyboard scenes for an image generator. Answer with one JSON object only:
{"characters": [{"name": "...", "description": "visual description: age, face, hair, clothing"}],
 "scenes": [{"title": "short title", "narration": "the exact story text this scene covers",
             "prompt": "a self-contained image prompt describing the scene", "characters": ["names shown"]}]}
List only characters who appear in two or more scenes. Scenes follow the story in order and together
cover all of it."""


def _instructions(story: str, scenes: int | None, style: str | None) -> str:
    count = f"exactly {scenes} scenes" if scenes else f"between 1 and {DEFAULT_MAX} scenes (you decide)"
    styled = f" The visual style is: {style}." if style else ""
    return f"Make {count}.{styled}\n\nStory:\n{story}"


def _parse(content: Any, scenes: int | None) -> Plan:
    """``content`` → :class:`Plan`; raises ``ValueError`` with what is wrong (for the repair message)."""
    if not isinstance(content, str) or not content.strip():
        raise ValueError("the answer was empty")
    fenced = _FENCE.match(content)
    try:
        data = json.loads(fenced[1] if fenced else content)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the object"
        raise ValueError(f"the JSON does not match the schema: {where}: {first['msg']}") from None
    wanted = scenes or None
    if wanted is not None and len(plan.scenes) != wanted:
        raise ValueError(f"it has {len(plan.scenes)} scenes, {wanted} were asked for")
    if wanted is None and len(plan.scenes) > DEFAULT_MAX:
        raise ValueError(f"it has {len(plan.scenes)} scenes, at most {DEFAULT_MAX} are allowed")
    return plan


async def _ask(config: StoryboardConfig, http: aiohttp.ClientSession, messages: list[dict[str, str]]) -> Any:
    """One chat-completions call → the message content; raises :class:`PlanningError` on transport errors."""
    url = config.text_base_url.rstrip("/") + "/chat/completions"
    body = {"model": config.text_model, "messages": messages, "response_format": {"type": "json_object"}}
    headers = {"Authorization": f"Bearer {config.text_api_key.get_secret_value()}"}
    try:
        async with http.post(url, json=body, headers=headers,
                             timeout=aiohttp.ClientTimeout(total=config.text_timeout)) as response:
            if response.status >= 400:
                raise PlanningError(f"the text model endpoint answered HTTP {response.status}")
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PlanningError(f"the text model endpoint could not be reached ({type(exc).__name__})") from None
    except ValueError:
        raise PlanningError("the text model endpoint answered something that is not JSON") from None
    try:
        return answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise PlanningError("the text model endpoint's answer has no choices[0].message.content") from None


async def plan_with_text_model(config: StoryboardConfig, http: aiohttp.ClientSession, story: str,
                               scenes: int | None, style: str | None) -> Plan:
    """Plan ``story`` with the configured text model (see the module docstring). Raises :class:`PlanningError`."""
    assert scenes is None or 1 <= scenes <= MAX_SCENES
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": _instructions(story, scenes, style)}]
    content = await _ask(config, http, messages)
    try:
        return _parse(content, scenes)
    except ValueError as exc:
        log.info("storyboard planner: invalid answer (%s); asking once more", exc)
        messages += [
            {"role": "assistant", "content": content if isinstance(content, str) else json.dumps(content)},
            {"role": "user", "content": f"That answer cannot be used: {exc}. Reply with only the corrected JSON object."},
        ]
    content = await _ask(config, http, messages)
    try:
        return _parse(content, scenes)
    except ValueError as exc:
        raise PlanningError(f"the text model gave no valid plan after one repair: {exc}") from None
