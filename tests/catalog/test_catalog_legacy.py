"""Legacy ids (``aliases[]`` with ``alias_of``): one old id for one model, checked at load, resolved, never listed."""

from __future__ import annotations

from flow2api.catalog import ResolveHints, parse_catalog
from tests.catalog.catalog_helpers import PROVIDERS, SMALL, catalog_text
from tests.catalog.test_catalog_loader import problems_of

LEGACY = SMALL.rstrip("\n") + "\n" + catalog_text("""
    - id: landscape-pic
      alias_of: pic-landscape
    - id: old-clip
      kind: video
      description: the old name of clip-portrait
      alias_of: clip-portrait
""")


def test_a_legacy_id_always_resolves_to_its_model_and_is_not_listed() -> None:
    catalog = parse_catalog(LEGACY, "cat.yaml", PROVIDERS)
    legacy = catalog.aliases["landscape-pic"]
    assert (legacy.alias_of, legacy.kind.value, legacy.hints) == ("pic-landscape", "image", frozenset())
    for hints in (None, ResolveHints(aspect_ratio="9:16", image_size="4k"), ResolveHints(image_dims=(10, 100))):
        assert catalog.resolve("landscape-pic", hints) is catalog.entries["pic-landscape"]
    assert catalog.aliases["old-clip"].description == "the old name of clip-portrait"
    assert legacy.description == ""   # the model's (none in SMALL)
    assert catalog.lookup("old-clip") is catalog.aliases["old-clip"]
    listed = [item.id for item in catalog.listing()]
    assert "landscape-pic" not in listed and "old-clip" not in listed
    assert [a.id for a in catalog.public_aliases()] == ["pic", "clip"]
    # a key's permission: a legacy id is shown to a key that may use its model
    assert catalog.lookup("old-clip", {"clip-portrait"}.__contains__) is not None
    assert catalog.lookup("old-clip", {"clip"}.__contains__) is None


def test_legacy_id_mistakes_are_reported_with_their_lines() -> None:
    text = SMALL.rstrip("\n") + "\n" + catalog_text("""
        - id: gone
          alias_of: no-such-model
        - id: wrong-kind
          kind: video
          alias_of: pic-square
        - id: pic-square
          alias_of: pic-landscape
    """)
    found = {field: (line, message) for line, field, message in problems_of(text)}
    assert found["aliases[2].alias_of"] == (text.splitlines().index("  alias_of: no-such-model") + 1,
                                            "alias_of 'no-such-model' is not a model id")
    assert found["aliases[3].kind"][1] == "alias_of 'pic-square' is a image model, not video"
    assert found["aliases[4].id"][1] == "legacy id 'pic-square' is also a model id; drop the model or the alias"


def test_an_alias_is_either_a_table_or_alias_of() -> None:
    text = SMALL.rstrip("\n") + "\n" + catalog_text("""
        - id: both
          alias_of: pic-square
          targets:
            landscape: {none: pic-square}
        - id: neither
          kind: image
    """)
    found = {field: message for _, field, message in problems_of(text)}
    assert "an alias_of alias takes no targets (it always resolves to one model)" in found["aliases[2]"]
    assert "an alias needs 'kind' and 'targets' (or 'alias_of: <model id>' for a legacy id)" in found["aliases[3]"]
