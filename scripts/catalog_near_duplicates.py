"""Find models of ``models.yaml`` that differ only in the order of their id's words, and fold them into one.

Usage: ``python scripts/catalog_near_duplicates.py models.yaml`` lists each group (same kind, same routes and
options; ids equal as sets of ``_``/``-``/``.``-separated words, e.g. ``veo_3_1_t2v_lite_8s_landscape`` and
``veo_3_1_t2v_lite_landscape_8s``) with its canonical id, the first in file order (what the spec's "alias of"
column names for the 4 s and 6 s pairs, and what the resolver aliases already target). ``--fix`` rewrites the
file in place: every other id of a group loses its model block and becomes a legacy id at the end of
``aliases`` (``{id: old, alias_of: canonical}``, docs/catalog.md "Legacy ids"), and alias targets naming it
are pointed at the canonical id, so no client breaks. Run it after ``scripts/catalog_from_spec.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

WORDS = re.compile(r"[-_.]")
BLOCK = re.compile(r"^- id: (?P<id>\S+)\n(?:(?:  |\s*\n).*\n?)*", re.MULTILINE)
LEGACY_HEADER = "# Legacy ids: near-duplicates of a model kept so old clients still work (docs/catalog.md).\n"


def word_key(model_id: str) -> frozenset[str]:
    """The id as a set of words: two ids with the same set differ only in word order."""
    return frozenset(WORDS.split(model_id))


def near_duplicates(raw: dict) -> dict[str, str]:
    """``{legacy id: canonical id}`` for the file's ``models`` (same kind and routes, ids equal up to word order)."""
    first: dict[tuple, str] = {}
    legacy: dict[str, str] = {}
    for model in raw["models"]:
        key = (model["kind"], word_key(model["id"]), repr(model["routes"]))
        if key in first:
            legacy[model["id"]] = first[key]
        else:
            first[key] = model["id"]
    return legacy


def fold(text: str, legacy: dict[str, str]) -> str:
    """``text`` with each legacy model block removed, its id appended as ``alias_of``, targets re-pointed."""
    models, aliases = text.split("\naliases:\n", 1)
    models = BLOCK.sub(lambda m: "" if m["id"] in legacy else m[0], models)
    for old, canonical in legacy.items():
        aliases = re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w.-])", canonical, aliases)
    if LEGACY_HEADER not in aliases:
        aliases = aliases.rstrip("\n") + "\n" + LEGACY_HEADER
    aliases += "".join(f"- id: {old}\n  alias_of: {canonical}\n" for old, canonical in legacy.items())
    return models + "\naliases:\n" + aliases


def main(argv: list[str]) -> int:
    """List the groups of ``argv[0]``; with ``--fix`` rewrite the file. Exit 1 when groups remain unlisted."""
    path = Path(argv[0])
    text = path.read_text(encoding="utf-8")
    legacy = near_duplicates(yaml.safe_load(text))
    for old, canonical in legacy.items():
        print(f"{old} -> {canonical}")
    if legacy and "--fix" in argv:
        path.write_text(fold(text, legacy), encoding="utf-8")
        return 0
    return 1 if legacy else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
