"""The ``Provider`` protocol as the VideoFX providers implement it, one test per member, and a meta-test that keeps it so.

Like datasette's "every hook has a test": each member of
:class:`flow2api.plugin.Provider` that a VideoFX provider defines must have a
test function named ``test_provider_member_<member>`` somewhere in the test
suites (``tests/``, ``plugins/*/tests/``).
"""

from __future__ import annotations

import ast
import configparser
import json
import re
from importlib.metadata import EntryPoint

import aiohttp
import pytest
from pydantic import BaseModel

from flow2api.catalog import CatalogError, load_catalog, parse_catalog
from flow2api.discovery import build_providers
from flow2api.plugin import AccountFamily, AccountView, Kind, Provider
from flow2api.settings import Settings
from flow2api.testing import REPO
from videofx_gateway import API_KEY, VIDEOFX_FACTORIES, Gateway, Upstream

OPTIONAL = re.compile(r"^\s*``(\w+)\(.*``\s*\(optional\)", re.MULTILINE)


def protocol_members() -> tuple[list[str], list[str]]:
    """``(required, optional)`` member names of the Provider protocol, read from the class and its docstring."""
    required = list(Provider.__annotations__) + [
        name for name, value in vars(Provider).items() if callable(value) and not name.startswith("_")
    ]
    return required, OPTIONAL.findall(Provider.__doc__ or "")


def videofx_entry_points() -> list[EntryPoint]:
    config = configparser.ConfigParser()
    config.read(REPO / "plugins" / "videofx" / "setup.cfg", encoding="utf-8")
    lines = config["options.entry_points"]["flow2api.providers"].strip().splitlines()
    return [EntryPoint(name=n.strip(), value=v.strip(), group="flow2api.providers") for n, _, v in (line.partition("=") for line in lines)]


def test_every_member_the_videofx_providers_define_has_a_test() -> None:
    required, optional = protocol_members()
    assert {"name", "kinds", "family", "Options", "describe", "can_serve", "generate"} <= set(required)
    assert "resume" in optional
    defined: set[str] = set()
    for factory in VIDEOFX_FACTORIES.values():
        missing = [m for m in required if not hasattr(factory, m) and m not in ("family",)]
        assert missing == [], f"{factory.__name__} lacks required members {missing}"
        defined |= set(required) | {m for m in optional if hasattr(factory, m)}
    tested = set()
    for folder in [REPO / "tests", *sorted((REPO / "plugins").glob("*/tests"))]:
        for path in folder.rglob("test_*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_provider_member_"):
                    tested.add(node.name.removeprefix("test_provider_member_"))
    assert sorted(defined - tested) == [], "write test_provider_member_<name> for these Provider members"


@pytest.fixture(scope="module")
def providers() -> dict[str, Provider]:
    return build_providers(Settings(), {ep.name: ep.load() for ep in videofx_entry_points()})


def test_provider_member_name(providers: dict[str, Provider]) -> None:
    # Discovery refuses a provider whose name differs from its entry-point name; these load cleanly.
    assert {name: p.name for name, p in providers.items()} == {"videofx-image": "videofx-image", "videofx-video": "videofx-video"}
    assert all(isinstance(p, Provider) for p in providers.values())


def test_provider_member_kinds(providers: dict[str, Provider]) -> None:
    assert providers["videofx-image"].kinds == {Kind.IMAGE} and providers["videofx-video"].kinds == {Kind.VIDEO}
    text = "models:\n- id: wrong\n  kind: video\n  routes:\n  - provider: videofx-image\n    options: {image_model: NARWHAL, aspect_ratio: IMAGE_ASPECT_RATIO_SQUARE}\n"
    # line 5 is "  - provider: videofx-image"
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "m.yaml", providers)
    assert caught.value.problems == ["m.yaml:5: models[0].routes[0].provider: provider 'videofx-image' does not produce videos"]


def test_provider_member_family(providers: dict[str, Provider]) -> None:
    families = {p.family.name for p in providers.values()}
    assert families == {"videofx"}
    family = providers["videofx-image"].family
    assert isinstance(family, AccountFamily) and family.credential_fields == ("st",)
    assert {"flow", "captcha"} <= set(family.config_sections)


def test_provider_member_Options(providers: dict[str, Provider]) -> None:  # noqa: N802 - the member's name
    """The catalog's "bad option" errors come from the provider's own Options model, with line numbers."""
    text = (REPO / "models.yaml").read_text(encoding="utf-8")
    broken = text.replace("      aspect_ratio: IMAGE_ASPECT_RATIO_PORTRAIT\n", "      aspect_ratio: IMAGE_ASPECT_RATIO_TALL\n      sharpness: 3\n", 1)
    broken = broken.replace("      duration_seconds: 8\n", "      duration_seconds: 0\n", 1)
    with pytest.raises(CatalogError) as caught:
        parse_catalog(broken, "models.yaml", providers)
    lines = broken.splitlines()
    tall = lines.index("      aspect_ratio: IMAGE_ASPECT_RATIO_TALL") + 1
    zero = lines.index("      duration_seconds: 0") + 1
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith(f"models.yaml:{tall}: models[1].routes[0].options.aspect_ratio: Input should be 'IMAGE_ASPECT_RATIO_LANDSCAPE'")
    assert problems[1] == f"models.yaml:{tall + 1}: models[1].routes[0].options.sharpness: unknown option"
    assert re.match(rf"models\.yaml:{zero}: models\[\d+\]\.routes\[0\]\.options\.duration_seconds: Input should be greater than or equal to 1", problems[2])


def test_provider_member_describe(providers: dict[str, Provider]) -> None:
    catalog = load_catalog(REPO / "models.yaml", providers)
    routes = [route for entry in catalog.entries.values() for route in entry.routes if route.provider in providers]
    assert routes
    for route in routes:
        described = providers[route.provider].describe(route.options)
        assert json.loads(json.dumps(described)) == described
        assert described["aspect_ratio"] == route.options.aspect_ratio
        assert described["required_tier"] == route.options.required_tier
        assert (described["min_images"], described["max_images"]) == (route.options.min_images, route.options.max_images)


def view(tier: str | None) -> AccountView:
    return AccountView(id=1, family="videofx", email="a@example.com", secrets={}, state={}, tier=tier)


def test_provider_member_can_serve(providers: dict[str, Provider]) -> None:
    catalog = load_catalog(REPO / "models.yaml", providers)

    def can(model: str, tier: str | None) -> bool:
        route = catalog.entries[model].routes[0]
        return providers[route.provider].can_serve(route.options, view(tier))

    assert can("gemini-3.1-flash-image-landscape", None) and can("gemini-3.1-flash-image-landscape", "PAYGATE_TIER_NOT_PAID")
    assert not can("gemini-3.1-flash-image-landscape-2k", "PAYGATE_TIER_NOT_PAID")
    assert can("gemini-3.1-flash-image-landscape-2k", "PAYGATE_TIER_ONE") and not can("gemini-3.1-flash-image-landscape-4k", "PAYGATE_TIER_ONE")
    assert can("veo_3_1_t2v_fast_ultra", "PAYGATE_TIER_TWO") and not can("veo_3_1_t2v_fast_ultra", "PAYGATE_TIER_ONE")


async def test_provider_member_generate(gateway: Gateway, upstream: Upstream) -> None:
    """The image provider's generate, driven by a chat completion, talks to the emulator and yields the image."""
    body = {"model": "gemini-3.1-flash-image-four-three", "messages": [{"role": "user", "content": "a bridge"}]}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session:
        async with session.post(f"{gateway.url}/v1/chat/completions", json=body) as resp:
            assert resp.status == 200, await resp.text()
            content = (await resp.json())["choices"][0]["message"]["content"]
    assert content.startswith("![")
    [sent] = upstream.emulator.calls("batchGenerateImages")
    assert sent.json["requests"][0]["imageAspectRatio"] == "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE"


def test_provider_member_Options_are_strict_pydantic_models(providers: dict[str, Provider]) -> None:  # noqa: N802
    for provider in providers.values():
        assert issubclass(provider.Options, BaseModel) and provider.Options.model_config.get("extra") == "forbid"


async def test_provider_member_resume(gateway: Gateway, upstream: Upstream) -> None:
    """A video job cut off right after ``Submitted`` (a restart) is continued by ``resume`` without a new submission."""
    from flow2api.catalog import CATALOG
    from flow2api.discovery import PROVIDERS
    from flow2api.plugin import Call, Job, MediaOutput, Submitted
    from flow2api.proxies import HTTP_SESSIONS

    app = gateway.app
    entry = app[CATALOG].current.resolve("veo_3_1_t2v_fast_landscape")
    provider = app[PROVIDERS]["videofx-video"]
    lease = await gateway.pool.acquire(entry, app[PROVIDERS], timeout=1)
    try:
        call = Call(
            job=Job(model=entry.id, kind=entry.kind, prompt="waves", options=entry.routes[0].options, request_id="r1"),
            account=lease, http=app[HTTP_SESSIONS].get(None),
        )
        events = provider.generate(call)
        async for event in events:
            if isinstance(event, Submitted):
                state = dict(event.resume)
                break
        await events.aclose()   # the process "stops" here
        resumed = [event async for event in provider.resume(call, state)]
    finally:
        gateway.pool.release(lease)
    [video] = [e for e in resumed if isinstance(e, MediaOutput)]
    assert video.kind is Kind.VIDEO and (video.url or video.data)
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoText")) == 1
    assert upstream.emulator.calls("batchCheckAsyncVideoGenerationStatus")
