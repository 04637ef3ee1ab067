"""Validation of ``models.yaml``: every problem reported at once, each as ``file:line: field: message``."""

from __future__ import annotations

import re

import pytest

from flow2api.catalog import CatalogError, parse_catalog
from tests.catalog.catalog_helpers import PROVIDERS, SMALL, catalog_text

LINE = re.compile(r"^cat\.yaml:(\d+): (\S+): (.+)$")


def problems_of(text: str) -> list[tuple[int, str, str]]:
    """Parse ``text`` expecting failure; the problems as ``(line, field, message)``."""
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "cat.yaml", PROVIDERS)
    parsed = []
    for line in caught.value.problems:
        match = LINE.match(line)
        assert match, f"problem not in 'file:line: field: message' form: {line!r}"
        parsed.append((int(match[1]), match[2], match[3]))
    assert str(caught.value) == "; ".join(caught.value.problems)
    return parsed


def test_the_small_catalog_loads() -> None:
    catalog = parse_catalog(SMALL, "cat.yaml", PROVIDERS)
    assert list(catalog.entries) == ["pic-landscape", "pic-portrait", "pic-square", "pic-landscape-4k", "clip", "clip-portrait"]
    assert list(catalog.aliases) == ["pic", "clip"]
    assert catalog.warnings == ()
    assert re.fullmatch(r"[0-9a-f]{12}", catalog.digest)
    assert catalog.entries["pic-portrait"].routes[0].options.color == "green"


def test_broken_yaml_names_its_line() -> None:
    text = SMALL.replace("  kind: video\n  routes:", "  kind: video\n  routes: [unclosed", 1)
    [(line, field, message)] = problems_of(text)
    assert field == "(file)" and message.startswith("not valid YAML")
    assert line >= text.splitlines().index("- id: clip") + 1


def test_unknown_field_and_bad_option_and_unknown_kind_are_reported_together() -> None:
    text = SMALL.replace("- id: pic-portrait\n  kind: image\n", "- id: pic-portrait\n  kind: image\n  colour: green\n", 1)
    text = text.replace("options: {color: blue, ratio: \"1:1\"}", "options: {color: purple, ratio: \"1:1\", shade: 3}", 1)
    text = text.replace("- id: clip\n  kind: video\n  routes", "- id: clip\n  kind: hologram\n  routes", 1)
    found = problems_of(text)
    lines = text.splitlines()
    assert (lines.index("  colour: green") + 1, "models[1].colour", "unknown field") in found
    kinds = [p for p in found if p[1] == "models[4].kind"]
    assert kinds and kinds[0][0] == lines.index("  kind: hologram") + 1


def test_bad_options_name_the_option_and_its_line() -> None:
    text = SMALL.replace("options: {color: blue, ratio: \"1:1\"}", "options:\n      color: purple\n      shade: 3", 1)
    found = problems_of(text)
    lines = text.splitlines()
    assert (lines.index("      color: purple") + 1, "models[2].routes[0].options.color",
            "Input should be 'red', 'green' or 'blue'") in found
    assert (lines.index("      shade: 3") + 1, "models[2].routes[0].options.shade", "unknown option") in found


def test_duplicate_model_id_points_at_both_lines() -> None:
    text = SMALL.replace("- id: pic-square\n", "- id: pic-portrait\n", 1)
    found = problems_of(text)
    lines = text.splitlines()
    first = lines.index("- id: pic-portrait") + 1
    second = lines.index("- id: pic-portrait", first) + 1
    assert (second, "models[2].id", f"duplicate model id 'pic-portrait' (first defined on line {first})") in found
    # The alias that pointed at the lost id is reported in the same run.
    assert [f for _, f, _ in found] == ["models[2].id", "aliases[0].targets.square.none"]


def test_duplicate_alias_and_missing_target_and_model_collision() -> None:
    text = SMALL + catalog_text("""
        - id: pic
          kind: image
          targets:
            landscape: {none: pic-landscape}
        - id: pic-square
          kind: image
          targets:
            landscape: {none: pic-landscape, 2k: pic-landscape-2k}
    """)
    found = problems_of(text)
    lines = text.splitlines()
    messages = {field: (line, message) for line, field, message in found}
    assert messages["aliases[2].id"][1].startswith("duplicate alias id 'pic' (first defined on line ")
    assert messages["aliases[3].id"][1].startswith("alias id 'pic-square' is also a model id")
    assert messages["aliases[3].targets.landscape.2k"] == (
        lines.index("    landscape: {none: pic-landscape, 2k: pic-landscape-2k}") + 1,
        "alias target 'pic-landscape-2k' is not a model id",
    )
    assert len(found) == 3


def test_alias_rules_kind_default_aspect_none_row_and_also_concrete() -> None:
    text = SMALL.replace("aliases:\n", catalog_text("""
        aliases:
        - id: mixed
          kind: image
          default_aspect: square
          targets:
            landscape: {none: clip}
            portrait: {4k: pic-landscape-4k}
        - id: pic-portrait
          kind: image
          also_concrete: true
          targets:
            landscape: {none: pic-landscape}
            portrait: {none: pic-portrait}
        - id: ghost
          kind: image
          also_concrete: true
          targets:
            landscape: {none: pic-landscape}
    """), 1)
    found = {field: message for _, field, message in problems_of(text)}
    assert found["aliases[0].targets.landscape.none"] == "alias target 'clip' is a video model, not image"
    assert found["aliases[0].default_aspect"] == "default aspect 'square' has no row in targets"
    assert found["aliases[0].targets.portrait"] == "every aspect needs a 'none' (no upsampling) target"
    assert found["aliases[1].targets.landscape.none"] == "an also_concrete alias must resolve to itself ('pic-portrait') without hints"
    assert found["aliases[2].also_concrete"] == "also_concrete is true but there is no model 'ghost'"


def test_unknown_aspect_size_and_hint_names_are_schema_errors() -> None:
    text = SMALL.replace("    square: {none: pic-square}\n", "    wide: {none: pic-square}\n    square: {8k: pic-square}\n", 1)
    text = text.replace("hints: [aspect_ratio, size, image_size, image_dims]", "hints: [aspect_ratio, mood]", 1)
    found = problems_of(text)
    fields = {field for _, field, _ in found}
    assert any(message.startswith("not a valid key: Input should be 'landscape'") for _, _, message in found)
    assert {"aliases[0].targets.wide", "aliases[0].targets.square.8k", "aliases[1].hints[1]"} <= fields


def test_unknown_provider_is_a_warning_and_the_model_unavailable() -> None:
    text = SMALL.replace("  - provider: paint\n    options: {color: green", "  - provider: airbrush\n    options: {color: green", 1)
    catalog = parse_catalog(text, "cat.yaml", PROVIDERS)
    entry = catalog.entries["pic-portrait"]
    assert not entry.available and entry.missing_providers == ("airbrush",)
    [warning] = catalog.warnings
    line = text.splitlines().index("  - provider: airbrush") + 1
    assert warning == (f"cat.yaml:{line}: models[1].routes[0].provider: provider 'airbrush' is not installed; "
                       "model 'pic-portrait' is unavailable through it")


def test_provider_of_the_wrong_kind_is_an_error() -> None:
    text = SMALL.replace("- id: clip-portrait\n  kind: video\n  routes:\n  - provider: film", "- id: clip-portrait\n  kind: video\n  routes:\n  - provider: paint", 1)
    [(_, field, message)] = problems_of(text)
    assert (field, message) == ("models[5].routes[0].provider", "provider 'paint' does not produce videos")


def test_duplicate_yaml_keys_empty_files_and_reserved_ids() -> None:
    text = SMALL.replace("- id: pic-square\n  kind: image\n", "- id: pic-square\n  kind: image\n  description: a\n  description: b\n", 1)
    [(line, field, message)] = problems_of(text)
    assert (line, field) == (text.splitlines().index("  description: b") + 1, "models[2].description")
    assert message == "duplicate key (YAML would keep only the last one)"
    assert problems_of("") == [(1, "models", "Field required")]
    assert problems_of("version: 1\nmodels: []\n")[0][1:] == ("models", "List should have at least 1 item after validation, not 0")
    assert problems_of("- just a list\n") [0][2].startswith("the file must be a mapping")
    reserved = SMALL.replace("- id: pic-square\n", "- id: aliases\n", 1).replace("{none: pic-square}", "{none: aliases}")
    assert any(message.startswith("'aliases' is reserved") for _, _, message in problems_of(reserved))


def test_the_public_names_of_the_package() -> None:
    import flow2api.catalog as catalog

    assert catalog.__all__ == sorted(catalog.__all__)
    assert all(hasattr(catalog, name) for name in catalog.__all__)
    # The names other modules have imported since flow2api.catalog was a single module.
    assert {"Catalog", "CatalogEntry", "CatalogError", "CatalogHolder", "ResolveHints", "Route", "load_catalog",
            "parse_catalog"} <= set(catalog.__all__)
