"""Generate ``models.yaml`` from the spec's machine-readable catalog (``shared/spec/flow-models.yaml``).

Usage (docs/catalog.md, "Regenerating from the spec")::

    python scripts/catalog_from_spec.py ../shared/spec/flow-models.yaml plugins/flowweb/models-routes.yaml > models.yaml

The output is the shipped file: nothing is edited by hand after it (``tests/catalog/test_catalog_generated.py``
checks that the generated catalog equals the shipped one). In order:

1. ``active_at_head`` ids become models; each gets one ``videofx-*`` route whose options are the spec's upstream
   params (spec §4.3).
2. **Fold**: models whose kind and route are the same are one model (issue 19, docs/catalog.md "Legacy ids"). The
   first in spec order is canonical, the others become legacy ids (``{id, alias_of}``) closing the aliases list, or,
   when the id is also a spec resolver alias, that alias without ``also_concrete``. The groups must be exactly the
   spec's ``alias_of`` column ("id with an identical configuration"), else the script stops naming the ids.
3. The extra files (the plugins' ``{"routes": {id: route}, "models": [...]}``, then the overlay
   ``scripts/catalog_overlay.yaml``) add routes after a model's VideoFX route (a route given for a folded id goes
   to its canonical model, once), whole models after the spec's, hand-made ``aliases`` after the spec's, and
   ``comments`` (id → text) written above an entry.
4. ``resolver_alias_at_head`` ids become ``aliases``: the spec's resolution rule (§4.4) written out as a target
   table per alias (aspect word → size → model id). Video aliases get the ``4k`` / ``1080p`` rows of their
   ``<alias>_4k`` / ``<alias>_1080p`` sibling alias, image aliases the ``-2k`` / ``-4k`` ids of their pattern.
   Every target (also of hand-made aliases) naming a folded id is pointed at its canonical id.

Errors (exit status 1, one message on stderr): an unknown key in an extra file, a route for an id that is no
model, two different routes of one extra file for ids folded into one model, a fold the spec's ``alias_of``
column does not state (or the reverse), a duplicate id.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

#: Hand-made entries (not in the spec, not a plugin's): always merged last (docs/catalog.md).
OVERLAY = Path(__file__).with_name("catalog_overlay.yaml")

SUB_KINDS = {
    "t2v": "t2v", "i2v (1 img first-frame | 2 imgs first+last)": "i2v", "i2v first-frame only": "i2v_first",
    "i2v first+last (interpolation)": "i2v_first_last", "r2v": "r2v", "extend (needs extend://<mediaId>)": "extend",
    "omni (0 imgs t2v | 1-3 imgs r2v)": "omni",
}
RATIO_WORDS = {
    "IMAGE_ASPECT_RATIO_LANDSCAPE": "16:9", "IMAGE_ASPECT_RATIO_PORTRAIT": "9:16", "IMAGE_ASPECT_RATIO_SQUARE": "1:1",
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": "4:3", "IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR": "3:4",
    "VIDEO_ASPECT_RATIO_LANDSCAPE": "16:9", "VIDEO_ASPECT_RATIO_PORTRAIT": "9:16",
}
TIERS = {"PAYGATE_TIER_NOT_PAID": "free", "PAYGATE_TIER_ONE": "Pro", "PAYGATE_TIER_TWO": "Ultra"}


def drop_none(d: dict) -> dict:
    """``d`` without its ``None`` values (an option the spec leaves empty is not written)."""
    return {k: v for k, v in d.items() if v is not None}


def image_model(e: dict) -> dict:
    """The model of one image row of the spec (§4.3): a ``videofx-image`` route; the default tier left out."""
    options = drop_none({
        "image_model": e["upstream_image_model_name"], "aspect_ratio": e["aspect_ratio"],
        "upsample": e["upsample_target"], "min_images": e["min_images"] or None, "max_images": e["max_images"],
        "required_tier": e["required_tier"] if e["required_tier"] != "PAYGATE_TIER_NOT_PAID" else None,
    })
    size = f", upsampled to {e['upsample_target'].rsplit('_', 1)[-1]}" if e["upsample_target"] else ""
    desc = f"{e['upstream_image_model_name']} image {RATIO_WORDS[e['aspect_ratio']]}{size}; {TIERS[e['required_tier']]} tier"
    return {"id": e["id"], "kind": "image", "description": desc, "routes": [{"provider": "videofx-image", "options": options}]}


def video_model(e: dict) -> dict:
    """The model of one video row of the spec (§4.3, key switches §4.2): a ``videofx-video`` route."""
    sub = SUB_KINDS[e["sub_kind"].replace(" +upsample", "")]
    options = drop_none({
        "video_model_key": e["upstream_video_model_key"], "sub_kind": sub, "aspect_ratio": e["aspect_ratio"],
        "single_image_key": e.get("upstream_video_model_key_single_image"),
        "tier_two_key": e.get("upstream_video_model_key_tier_two"),
        "tier_two_single_image_key": e.get("upstream_video_model_key_tier_two_single_image"),
        "with_images_key": e.get("upstream_video_model_key_with_images"),
        "min_images": e["min_images"] or None, "max_images": e["max_images"],
        "upsample": e["upsample_target"], "upsampler_key": e["upsampler_video_model_key"],
        "duration_seconds": e["duration_seconds"],
        "required_tier": e["required_tier"] if e["required_tier"] != "PAYGATE_TIER_NOT_PAID" else None,
        "ultra": e["ultra"] or None, "relaxed": e["relaxed"] or None,
    })
    up = f", upsampled to {e['upsample_target'].rsplit('_', 1)[-1]}" if e["upsample_target"] else ""
    desc = (f"Veo {sub} {RATIO_WORDS[e['aspect_ratio']]}, {e['duration_seconds']} s{up}; "
            f"{e['min_images']}-{e['max_images'] if e['max_images'] is not None else 'n'} images; {TIERS[e['required_tier']]} tier")
    return {"id": e["id"], "kind": "video", "description": desc, "routes": [{"provider": "videofx-video", "options": options}]}


IMAGE_HINTS = ["aspect_ratio", "size", "image_size", "quality", "image_dims"]
# OpenAI ``quality`` is an Images API notion (spec §4.4 names it for image aliases only).
VIDEO_HINTS = ["aspect_ratio", "size", "image_size", "image_dims"]
VIDEO_SIZES = ("4k", "1080p")


def image_alias(e: dict, known: set[str]) -> dict:
    """``gemini-3.0-pro-image`` → rows ``<id>-<aspect>`` plus ``-2k``/``-4k`` where the spec lists such ids."""
    targets = {}
    for aspect in e["supported_aspects"]:
        row = {"none": f"{e['id']}-{aspect}"}
        row.update({size: f"{e['id']}-{aspect}-{size}" for size in e["supported_sizes"] if f"{e['id']}-{aspect}-{size}" in known})
        targets[aspect] = row
    sizes = ", ".join(s.upper() for s in e["supported_sizes"])
    desc = f"{e['id']} in {', '.join(e['supported_aspects'])}{' (1K, ' + sizes + ')' if sizes else ''}, picked per request"
    return {
        "id": e["id"], "kind": "image", "description": desc, "default_aspect": e["default_aspect"],
        "hints": list(IMAGE_HINTS), "targets": targets,
    }


def video_alias(e: dict, by_id: dict[str, dict]) -> dict:
    """``veo_3_1_t2v_fast`` → landscape/portrait rows; a sibling ``<id>_4k``/``_1080p`` alias adds that size (spec §4.4)."""
    targets = {}
    for aspect, target in e["resolves_to"].items():
        row = {"none": target}
        for size in VIDEO_SIZES:
            sibling = by_id.get(f"{e['id']}_{size}")
            if sibling is not None and aspect in sibling["resolves_to"]:
                row[size] = sibling["resolves_to"][aspect]
        targets[aspect] = row
    sizes = sorted({size for row in targets.values() for size in row if size != "none"})
    desc = f"{e['id']} in {', '.join(targets)}{' (' + ', '.join(sizes) + ' via image_size)' if sizes else ''}, picked per request"
    alias = {"id": e["id"], "kind": "video", "description": desc}
    if e.get("also_concrete_model_id"):
        alias["also_concrete"] = True
    alias.update({"default_aspect": e["default_aspect"], "hints": list(VIDEO_HINTS), "targets": targets})
    return alias


#: Keys an extra file (a plugin's route file or the overlay) may have.
EXTRA_KEYS = {"version", "routes", "models", "aliases", "comments"}


def fold(models: list[dict], spec: list[dict]) -> dict[str, str]:
    """``{redundant id: canonical id}``: models whose kind and routes are equal (descriptions aside), the first in
    ``models`` order canonical; checked against the spec's ``alias_of`` column (SystemExit naming the ids)."""
    first: dict[str, str] = {}
    folded: dict[str, str] = {}
    for m in models:
        canonical = first.setdefault(json.dumps([m["kind"], m["routes"]], sort_keys=True), m["id"])
        if canonical != m["id"]:
            folded[m["id"]] = canonical
    stated = {e["id"]: e["alias_of"] for e in spec if e["status"] == "active_at_head" and e.get("alias_of")}
    if folded != stated:
        wrong = sorted(set(folded.items()) ^ set(stated.items()))
        raise SystemExit(f"fold disagrees with the spec's alias_of column (id, canonical): {wrong}")
    return folded


def merge_routes(by_id: dict[str, dict], routes: dict[str, dict], folded: dict[str, str], source: str) -> None:
    """Append each route of ``routes`` ({model id: route}) to its model, a folded id's to its canonical model once."""
    added: dict[str, dict] = {}
    for model_id, route in routes.items():
        target = folded.get(model_id, model_id)
        if target not in by_id:
            raise SystemExit(f"{source}: route for unknown model {model_id!r}")
        if target in added:
            if added[target] != route:
                raise SystemExit(f"{source}: {model_id!r} and another id of model {target!r} have different routes")
            continue
        added[target] = route
        by_id[target]["routes"].append(route)


def repoint(alias: dict, folded: dict[str, str]) -> dict:
    """``alias`` with every target naming a folded id pointed at its canonical id; an also-concrete alias whose own
    model was folded is a plain alias over the canonical ids (spec §4.3: the old model made what the target makes)."""
    def walk(table):
        return {k: walk(v) for k, v in table.items()} if isinstance(table, dict) else folded.get(table, table)
    alias = {k: walk(v) if k in ("targets", "durations") else v for k, v in alias.items()}
    if alias["id"] in folded:
        alias.pop("also_concrete", None)
    return alias


def read_extra(path: str) -> dict:
    """One extra file, its keys checked (``EXTRA_KEYS``); a missing key is empty."""
    extra = yaml.safe_load(open(path, encoding="utf-8")) or {}
    if set(extra) - EXTRA_KEYS:
        raise SystemExit(f"{path}: unknown keys {sorted(set(extra) - EXTRA_KEYS)} (allowed: {sorted(EXTRA_KEYS)})")
    return {"routes": {}, "models": [], "aliases": [], "comments": {}, **extra}


def build(spec: list[dict], extra_files: list[str]) -> tuple[list[dict], list[dict], dict[str, str]]:
    """``(models, aliases, comments)`` of the catalog the spec and the extra files make (steps 1-4 above)."""
    generated = [image_model(e) if e["kind"] == "image" else video_model(e)
                 for e in spec if e["status"] == "active_at_head"]
    folded = fold(generated, spec)
    models = [m for m in generated if m["id"] not in folded]
    by_id = {m["id"]: m for m in models}
    extras = [(path, read_extra(path)) for path in extra_files]
    for path, extra in extras:
        merge_routes(by_id, extra["routes"], folded, path)
    models += [m for _, extra in extras for m in extra["models"]]
    alias_specs = {e["id"]: e for e in spec if e["status"] == "resolver_alias_at_head"}
    known = {m["id"] for m in generated}
    aliases = [image_alias(e, known) if e["kind"] == "image" else video_alias(e, alias_specs)
               for e in alias_specs.values()]
    aliases += [a for _, extra in extras for a in extra["aliases"]]
    aliases = [repoint(a, folded) for a in aliases]
    aliases += [{"id": old, "alias_of": canonical} for old, canonical in folded.items() if old not in alias_specs]
    # an also-concrete alias shares its id with a model (spec §4.4); nothing else may
    ids = [m["id"] for m in models] + [a["id"] for a in aliases if not a.get("also_concrete")]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"duplicate ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    comments = {k: v for _, extra in extras for k, v in extra["comments"].items()}
    legacy = [a["id"] for a in aliases if "alias_of" in a]
    if legacy:
        comments.setdefault(legacy[0], LEGACY_COMMENT)
    return models, aliases, comments


class CatalogDumper(yaml.SafeDumper):
    """PyYAML's safe dumper writing a list of plain scalars in flow style (``operations: [text, images]``)."""


CatalogDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True if all(isinstance(x, str | int) for x in data) else None))


def write(out, models: list[dict], aliases: list[dict], comments: dict[str, str], spec_ids: set[str]) -> None:
    """The catalog as YAML: the spec's models block style, other models and aliases with their innermost tables
    (options, targets rows) in flow style so one entry stays a handful of lines; ``comments`` above their ids."""
    def entry(item: dict, flow: bool | None, width: int) -> None:
        if item["id"] in comments:
            out.write("\n" + "".join(f"# {line}".rstrip() + "\n" for line in comments[item["id"]].splitlines()))
        yaml.dump([item], out, Dumper=CatalogDumper, sort_keys=False, allow_unicode=True,
                  default_flow_style=flow, width=width)

    out.write(HEADER + "version: 1\nmodels:\n")
    for m in models:
        entry(m, False if m["id"] in spec_ids else None, 120 if m["id"] in spec_ids else 200)
    out.write(ALIASES_HEADER + "aliases:\n")
    for a in aliases:
        entry(a, False if "alias_of" in a else None, 160)


def main(argv: list[str]) -> None:
    """Write the catalog of the spec's data file and the extra files named in ``argv`` (then the overlay) to stdout."""
    parser = argparse.ArgumentParser(description="Generate models.yaml (docs/catalog.md).")
    parser.add_argument("spec", help="the spec's data file, shared/spec/flow-models.yaml")
    parser.add_argument("extra", nargs="*", help="plugins' route files, e.g. plugins/flowweb/models-routes.yaml")
    parser.add_argument("--overlay", default=str(OVERLAY), help="hand-made entries, merged last (default: %(default)s)")
    args = parser.parse_args(argv)
    spec = yaml.safe_load(open(args.spec, encoding="utf-8"))
    models, aliases, comments = build(spec, [*args.extra, args.overlay])
    spec_ids = {e["id"] for e in spec if e["status"] == "active_at_head"}
    write(sys.stdout, models, aliases, comments, spec_ids)


HEADER = """\
# flow2api model catalog: every public model id and how it is served.
#
# Edited while the server runs? It is reloaded within a second (an invalid edit keeps the
# previous catalog and reports the problem with its line in /health and the log).
# Check a file offline with:  flow2api models check [PATH]
#
# models[].id           public model id (OpenAI "model", Gemini {model})
# models[].kind         image | video
# models[].enabled      false hides the model from /v1/models and refuses it (default true)
# models[].routes[]     how to serve it, in order of preference; each names a provider plugin
#                       (entry point in group flow2api.providers) and that provider's options.
#                       videofx-image / videofx-video options: see plugins/videofx/README.md.
# models[].routes[].operations  what the route can do: text, images, extend, edit (default: all but edit);
#                       a job goes only to a route that can do its operation, and none left is a 400.
#
# aliases[]             resolver aliases (spec §4.4): one id standing for a table of model ids; see below.
# aliases[].alias_of    a legacy id: always that one model, not in the API's lists (ids with another model's very
#                       settings, spec §4.3 "alias of", folded by scripts/catalog_from_spec.py; they close the aliases list).
#
# Generated by scripts/catalog_from_spec.py from the spec's catalog, the plugins' route files and the overlay
# scripts/catalog_overlay.yaml (hand-made entries): edit those and regenerate, not this file (docs/catalog.md).
"""

ALIASES_HEADER = """\

# Resolver aliases. A request naming an alias is served by one of its targets, chosen per request:
#   aspect  from aspect_ratio ("16:9", Gemini imageConfig.aspectRatio), else OpenAI size "WxH" (nearest),
#           else the first input image's pixel size (nearest), else default_aspect.
#           A ratio the alias has no row for selects default_aspect.
#   size    from image_size ("1k" = none, "2k", "4k", "1080p", "360p"), else OpenAI quality (medium → 2k,
#           high/hd/ultra → 4k), else 360p for a size whose shorter side is ≤ 480 px, else none.
#           A size the chosen row lacks is ignored.
# aliases[].hints          which of aspect_ratio, size, image_size, quality, image_dims, seconds the alias listens to
# aliases[].targets        aspect (landscape|portrait|square|four-three|three-four) → size (none|2k|4k|1080p|360p) → model id
# aliases[].durations      seconds → a table like targets, picked by the request's seconds (one not listed is a 400)
# aliases[].also_concrete  the alias id is also a model id: without hints it resolves to that model itself
# aliases[].enabled        false hides the alias (an also_concrete id then behaves as the plain model)
# Check with:  flow2api models check   (every target must be a model of the alias's kind)
"""

LEGACY_COMMENT = "Legacy ids: near-duplicates of a model kept so old clients still work (docs/catalog.md)."

if __name__ == "__main__":
    main(sys.argv[1:])
