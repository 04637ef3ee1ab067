"""Regenerate ``models.yaml`` from the spec's machine-readable catalog (``shared/spec/flow-models.yaml``).

Usage: ``python scripts/catalog_from_spec.py ../shared/spec/flow-models.yaml [ROUTES.yaml …] > models.yaml``
(today: ``… plugins/flowweb/models-routes.yaml``).
``active_at_head`` ids become models; each gets one ``videofx-*`` route whose
options are the spec's upstream params, followed by the routes the extra
files (``{"routes": {model id: route}}``, as provider plugins publish them)
give for that id. ``resolver_alias_at_head`` ids become
``aliases``: the spec's resolution rule (§4.4) written out as a target table
per alias (aspect word → size → model id). Video aliases get the ``4k`` /
``1080p`` rows of their ``<alias>_4k`` / ``<alias>_1080p`` sibling alias,
image aliases the ``-2k`` / ``-4k`` ids of their pattern. Run it when the spec
changes, then review the diff: ``models.yaml`` is the file of record, edited
by hand after that.
"""

from __future__ import annotations

import sys

import yaml

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
    return {k: v for k, v in d.items() if v is not None}


def image_model(e: dict) -> dict:
    options = drop_none({
        "image_model": e["upstream_image_model_name"], "aspect_ratio": e["aspect_ratio"],
        "upsample": e["upsample_target"], "min_images": e["min_images"] or None, "max_images": e["max_images"],
        "required_tier": e["required_tier"] if e["required_tier"] != "PAYGATE_TIER_NOT_PAID" else None,
    })
    size = f", upsampled to {e['upsample_target'].rsplit('_', 1)[-1]}" if e["upsample_target"] else ""
    desc = f"{e['upstream_image_model_name']} image {RATIO_WORDS[e['aspect_ratio']]}{size}; {TIERS[e['required_tier']]} tier"
    return {"id": e["id"], "kind": "image", "description": desc, "routes": [{"provider": "videofx-image", "options": options}]}


def video_model(e: dict) -> dict:
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


def main(path: str, route_files: list[str] | None = None) -> None:
    spec = yaml.safe_load(open(path, encoding="utf-8"))
    models = [
        image_model(e) if e["kind"] == "image" else video_model(e)
        for e in spec if e["status"] == "active_at_head"
    ]
    by_id = {m["id"]: m for m in models}
    for route_file in route_files or []:
        extra = yaml.safe_load(open(route_file, encoding="utf-8"))["routes"]
        for model_id, route in extra.items():
            if model_id not in by_id:
                raise SystemExit(f"{route_file}: route for unknown model {model_id!r}")
            by_id[model_id]["routes"].append(route)
    known = {m["id"] for m in models}
    alias_specs = {e["id"]: e for e in spec if e["status"] == "resolver_alias_at_head"}
    aliases = [
        image_alias(e, known) if e["kind"] == "image" else video_alias(e, alias_specs)
        for e in alias_specs.values()
    ]
    sys.stdout.write(HEADER)
    yaml.safe_dump({"version": 1, "models": models}, sys.stdout, sort_keys=False, width=120, allow_unicode=True)
    sys.stdout.write(ALIASES_HEADER)
    # Flow style for the innermost tables keeps one alias to a handful of lines.
    yaml.safe_dump({"aliases": aliases}, sys.stdout, sort_keys=False, width=160, allow_unicode=True,
                   default_flow_style=None)


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
#
# aliases[]             resolver aliases (spec §4.4): one id standing for a table of model ids; see below.
#
# Generated from the spec's catalog by scripts/catalog_from_spec.py, then maintained by hand.
"""

ALIASES_HEADER = """\

# Resolver aliases. A request naming an alias is served by one of its targets, chosen per request:
#   aspect  from aspect_ratio ("16:9", Gemini imageConfig.aspectRatio), else OpenAI size "WxH" (nearest),
#           else the first input image's pixel size (nearest), else default_aspect.
#           A ratio the alias has no row for selects default_aspect.
#   size    from image_size ("1k" = none, "2k", "4k", "1080p"), else OpenAI quality (medium → 2k,
#           high/hd/ultra → 4k), else none. A size the chosen row lacks is ignored.
# aliases[].hints          which of aspect_ratio, size, image_size, quality, image_dims the alias listens to
# aliases[].targets        aspect (landscape|portrait|square|four-three|three-four) → size (none|2k|4k|1080p) → model id
# aliases[].also_concrete  the alias id is also a model id: without hints it resolves to that model itself
# aliases[].enabled        false hides the alias (an also_concrete id then behaves as the plain model)
# Check with:  flow2api models check   (every target must be a model of the alias's kind)
"""

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
