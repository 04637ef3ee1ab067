"""Regenerate ``models.yaml`` from the spec's machine-readable catalog (``shared/spec/flow-models.yaml``).

Usage: ``python scripts/catalog_from_spec.py ../shared/spec/flow-models.yaml > models.yaml``.
Only ``active_at_head`` ids become models; each gets one ``videofx-*`` route
whose options are the spec's upstream params. Run it when the spec changes,
then review the diff: ``models.yaml`` is the file of record, edited by hand after that.
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


def main(path: str) -> None:
    spec = yaml.safe_load(open(path, encoding="utf-8"))
    models = [
        image_model(e) if e["kind"] == "image" else video_model(e)
        for e in spec if e["status"] == "active_at_head"
    ]
    sys.stdout.write(HEADER)
    yaml.safe_dump({"version": 1, "models": models}, sys.stdout, sort_keys=False, width=120, allow_unicode=True)


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
# Generated from the spec's catalog by scripts/catalog_from_spec.py, then maintained by hand.
"""

if __name__ == "__main__":
    main(sys.argv[1])
