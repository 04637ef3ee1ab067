"""Planning: the configured OpenAI-compatible planner (a real fake text server) and the built-in planner."""

from __future__ import annotations

import json

import aiohttp
from storyboard_helpers import STORY, Demo, TextServer, auth, wait_for

from flow2api_storyboard.builtin_planner import plan_builtin

PLAN = {
    "characters": [{"name": "Ada", "description": "a tall engineer in a yellow raincoat"}],
    "scenes": [
        {"title": "The bridge", "narration": "Ada walked to the bridge.", "prompt": "a woman on a bridge at dusk",
         "characters": ["Ada"]},
        {"title": "The river", "narration": "The river ran high.", "prompt": "a swollen river under rain",
         "characters": []},
        {"title": "Home", "narration": "Ada went home.", "prompt": "a woman opening a red door", "characters": ["Ada"]},
    ],
}


def text_sections(server: TextServer) -> dict[str, object]:
    return {"text_base_url": server.url, "text_api_key": "sk-text-secret", "text_model": "planner-1"}


async def create(demo: Demo, http: aiohttp.ClientSession, **body: object) -> dict:
    async with http.post(f"{demo.url}/v1/storyboards", json={"story": STORY, **body}, headers=auth()) as response:
        assert response.status == 202, await response.text()
        return await response.json()


async def test_the_configured_planner_returns_the_scenes_you_get(demo: Demo, text_server: TextServer) -> None:
    text_server.contents.append(json.dumps(PLAN))
    await demo.start(storyboard=text_sections(text_server))
    async with aiohttp.ClientSession() as http:
        created = await create(demo, http, scenes=3, style="ink wash")
        board = await wait_for(http, f"{demo.url}/v1/storyboards/{created['id']}")
    assert board["status"] == "ready"
    assert [s["title"] for s in board["scenes"]] == ["The bridge", "The river", "Home"]
    assert [s["narration"] for s in board["scenes"]] == [s["narration"] for s in PLAN["scenes"]]
    # the prompt carries the planner's prompt, the character's description and the style
    assert board["scenes"][2]["prompt"].startswith("a woman opening a red door.")
    assert "Ada: a tall engineer in a yellow raincoat" in board["scenes"][2]["prompt"]
    assert "Style: ink wash." in board["scenes"][1]["prompt"]
    assert board["scenes"][2]["references"] == [0]  # Ada's first scene's image passed to her later scene
    (call,) = text_server.calls
    assert call["authorization"] == "Bearer sk-text-secret"
    assert call["body"]["model"] == "planner-1" and call["body"]["response_format"] == {"type": "json_object"}
    assert "exactly 3 scenes" in call["body"]["messages"][1]["content"] and STORY in call["body"]["messages"][1]["content"]


async def test_invalid_json_once_is_repaired(demo: Demo, text_server: TextServer) -> None:
    text_server.contents += ['{"scenes": [{"title": "The bridge",', "```json\n" + json.dumps(PLAN) + "\n```"]
    await demo.start(storyboard=text_sections(text_server))
    async with aiohttp.ClientSession() as http:
        created = await create(demo, http)
        board = await wait_for(http, f"{demo.url}/v1/storyboards/{created['id']}")
    assert board["status"] == "ready" and len(board["scenes"]) == 3
    first, repair = text_server.calls
    messages = repair["body"]["messages"]
    assert messages[:2] == first["body"]["messages"]  # the same conversation, continued
    assert messages[2] == {"role": "assistant", "content": '{"scenes": [{"title": "The bridge",'}
    assert "not valid JSON" in messages[3]["content"]


async def test_invalid_twice_fails_with_the_reason(demo: Demo, text_server: TextServer) -> None:
    wrong_count = {**PLAN, "scenes": PLAN["scenes"][:2]}
    text_server.contents += ["not json at all", json.dumps(wrong_count)]
    await demo.start(storyboard=text_sections(text_server))
    async with aiohttp.ClientSession() as http:
        created = await create(demo, http, scenes=3)
        board = await wait_for(http, f"{demo.url}/v1/storyboards/{created['id']}")
    assert board["status"] == "failed" and board["scenes"] == []
    assert board["error"] == ("planning_failed: the text model gave no valid plan after one repair: "
                              "it has 2 scenes, 3 were asked for")
    assert len(text_server.calls) == 2
    assert "sk-text-secret" not in json.dumps(board)


def test_builtin_planner_splits_a_six_paragraph_story_and_finds_both_characters() -> None:
    plan = plan_builtin(STORY, None)
    assert 3 <= len(plan.scenes) <= 12
    assert [c.name for c in plan.characters] == ["Mira", "Tomas"]
    assert plan.characters[0].description == "a young lighthouse keeper with a red scarf"
    assert plan.characters[1].description == "an old fisherman with a white beard"
    assert " ".join(s.narration for s in plan.scenes) == " ".join(STORY.split())  # the whole story, in order
    assert [s.characters for s in plan.scenes] == [["Mira"], ["Tomas"], ["Mira"], ["Tomas"], ["Mira"], ["Mira", "Tomas"]]
    # asked for more scenes than paragraphs: sentences, balanced
    ten = plan_builtin(STORY, 10)
    assert len(ten.scenes) == 10
    lengths = [len(s.narration) for s in ten.scenes]
    assert max(lengths) < 3 * min(lengths)
    assert len(plan_builtin(STORY, 2).scenes) == 2


async def test_builtin_planner_later_scenes_of_a_character_carry_a_reference_image(demo: Demo) -> None:
    await demo.start()
    async with aiohttp.ClientSession() as http:
        created = await create(demo, http, style="watercolor, muted")
        board = await wait_for(http, f"{demo.url}/v1/storyboards/{created['id']}", timeout=90)
    assert board["status"] == "ready", board
    scenes = board["scenes"]
    assert [s["references"] for s in scenes] == [[], [], [0], [1], [0], [0, 1]]
    assert all("Style: watercolor, muted." in s["prompt"] for s in scenes)
    assert "Mira: a young lighthouse keeper with a red scarf" in scenes[4]["prompt"]
    # the emulator received the reference images as image inputs of exactly those scenes
    sent = await demo.image_requests()
    for scene in scenes:
        (item,) = [json.loads(i) for i in sent if scene["title"].rstrip("…") in i]
        assert len(item.get("imageInputs") or []) == len(scene["references"]), (scene["index"], item.keys())
