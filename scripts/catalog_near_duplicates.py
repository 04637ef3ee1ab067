"""Find models of ``models.yaml`` that have the very same upstream settings, and fold them into one.

Usage: ``python scripts/catalog_near_duplicates.py models.yaml`` lists every redundant id with its canonical id.
Two models are the same when their kind and every route (provider, options, operations) are equal after
normalising: the options are validated by the installed provider's ``Options`` model, so a default written out
(``duration_seconds: 8``) equals one left out, and descriptions do not count. This covers the word-order pairs
(``veo_3_1_t2v_lite_8s_landscape`` / ``veo_3_1_t2v_lite_landscape_8s``) and the rows of spec
(flow-upstream.md) §4.3 whose "alias of" column names another id (``veo_3_1_t2v_fast_landscape_4s`` =
``veo_3_1_t2v_fast_4s``, ``veo_3_1_t2v_fast_8s`` = ``veo_3_1_t2v_fast_landscape``). The canonical id of a group is
the first in file order, which is the id that column names (the file follows the spec's row order). A model whose
provider is not installed is never folded (its settings cannot be normalised).

``--fix`` rewrites the file in place, keeping its order: every redundant model block is removed and alias targets
and ``alias_of`` naming it are pointed at the canonical id, so no client breaks. A redundant id becomes a legacy id
at the end of ``aliases`` (``{id: old, alias_of: canonical}``, docs/catalog.md "Legacy ids") — unless it is
already a resolver alias's id (``also_concrete``, spec §4.4): that alias stays (its hints keep working) and only
loses ``also_concrete``. ``scripts/catalog_from_spec.py`` folds the shipped catalog itself (the same rule on the
settings as the spec writes them, checked against its "alias of" column), so on the shipped file this lists nothing
(exit 0): a check that the generator and the providers' normalisation agree, and ``--fix`` for an operator's own file.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

from flow2api.catalog import Catalog, CatalogEntry, load_catalog
from flow2api.discovery import build_providers, installed_factories
from flow2api.settings import Settings

#: One block of a YAML list written one key a line: ``- id: x`` and the lines indented under it.
BLOCK = re.compile(r"^- id: (?P<id>\S+)\n(?:  .*\n)*", re.MULTILINE)
LEGACY_HEADER = "# Legacy ids: near-duplicates of a model kept so old clients still work (docs/catalog.md).\n"
#: Lines of an alias block whose ids are the alias's own (never re-pointed).
OWN_LINE = re.compile(r"^(- id|  description): ")


def settings_key(entry: CatalogEntry) -> tuple:
    """What decides what ``entry`` makes upstream: its kind and each route's provider, normalised options
    (``Options.model_dump()``) and operations; the id itself when a provider is missing (never equal)."""
    if not entry.available or entry.missing_providers:
        return (entry.id,)
    return entry.kind.value, tuple(
        (r.provider, json.dumps(r.options.model_dump(mode="json"), sort_keys=True), tuple(sorted(r.operations)))
        for r in entry.routes)


def same_settings(catalog: Catalog) -> dict[str, str]:
    """``{redundant id: canonical id}`` over the enabled models of ``catalog``, in file order (first id wins)."""
    first: dict[tuple, str] = {}
    redundant: dict[str, str] = {}
    for entry in catalog.entries.values():
        if not entry.enabled:
            continue
        canonical = first.setdefault(settings_key(entry), entry.id)
        if canonical != entry.id:
            redundant[entry.id] = canonical
    return redundant


def _repoint(line: str, legacy: dict[str, str]) -> str:
    if OWN_LINE.match(line):
        return line
    return re.sub(r"(?<![\w.-])[\w.-]+(?![\w.-])", lambda m: legacy.get(m[0], m[0]), line)


def _fold_alias_block(block: str, legacy: dict[str, str]) -> str:
    own = BLOCK.match(block)
    lines = block.splitlines(keepends=True)
    if own is not None and own["id"] in legacy:   # an also_concrete alias whose model is folded: a plain alias now
        lines = [line for line in lines if line.strip() != "also_concrete: true"]
    return "".join(_repoint(line, legacy) for line in lines)


def fold(text: str, legacy: dict[str, str]) -> str:
    """``text`` with each redundant model block removed, targets and ``alias_of`` re-pointed, new legacy ids last."""
    models, aliases = text.split("\naliases:\n", 1)
    models = BLOCK.sub(lambda m: "" if m["id"] in legacy else m[0], models)
    alias_ids = set(BLOCK.findall(aliases))
    aliases = BLOCK.sub(lambda m: _fold_alias_block(m[0], legacy), aliases)
    if LEGACY_HEADER not in aliases:
        aliases = aliases.rstrip("\n") + "\n" + LEGACY_HEADER
    aliases += "".join(f"- id: {old}\n  alias_of: {canonical}\n"
                       for old, canonical in legacy.items() if old not in alias_ids)
    return models + "\naliases:\n" + aliases


def main(argv: list[str]) -> int:
    """List the redundant ids of ``argv[0]``; with ``--fix`` rewrite the file. Exit 1 when some remain unfolded."""
    logging.basicConfig(level=logging.ERROR)   # the plugins' start-up warnings are noise here
    path = Path(argv[0])
    text = path.read_text(encoding="utf-8")
    catalog = load_catalog(path, build_providers(Settings(), installed_factories()))
    legacy = same_settings(catalog)
    for old, canonical in legacy.items():
        print(f"{old} -> {canonical}")
    if legacy and "--fix" in argv:
        path.write_text(fold(text, legacy), encoding="utf-8")
        return 0
    return 1 if legacy else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
