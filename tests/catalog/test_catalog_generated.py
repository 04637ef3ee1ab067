"""``models.yaml`` is generated: ``scripts/catalog_from_spec.py`` reproduces the shipped file from the spec's data
file, the flowweb plugin's route file and ``scripts/catalog_overlay.yaml`` (docs/catalog.md, "Regenerating from the
spec"), folding same-settings ids itself (issue 19: near-duplicate ids reduced to one canonical id, the other kept).

The script runs as a child process, as the documented command runs it. The shipped-file tests skip when the shared
spec is not checked out next to the repository; the rule tests feed small spec files written here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from flow2api.testing import REPO

SCRIPT = REPO / "scripts" / "catalog_from_spec.py"
SPEC_FILE = REPO / ".." / "shared" / "spec" / "flow-models.yaml"
ROUTES = REPO / "plugins" / "flowweb" / "models-routes.yaml"


def generate(spec: Path, *extra: Path, overlay: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the generator as docs/catalog.md says (stdout is the catalog)."""
    args = [sys.executable, str(SCRIPT), str(spec), *map(str, extra)]
    if overlay is not None:
        args += ["--overlay", str(overlay)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def generated() -> str:
    if not SPEC_FILE.is_file():
        pytest.skip(f"spec data file not found at {SPEC_FILE.resolve()} (the shared spec is not checked out next to the repo)")
    run = generate(SPEC_FILE, ROUTES)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_generated_catalog_is_the_shipped_one(generated: str) -> None:
    shipped = yaml.safe_load((REPO / "models.yaml").read_text(encoding="utf-8"))
    made = yaml.safe_load(generated)
    assert [m["id"] for m in made["models"]] == [m["id"] for m in shipped["models"]]
    assert [a["id"] for a in made["aliases"]] == [a["id"] for a in shipped["aliases"]]
    assert made == shipped, "models.yaml differs from the generator's output: edit scripts/catalog_overlay.yaml and regenerate"


def test_regenerating_leaves_the_shipped_file_unchanged(generated: str) -> None:
    """Comments and layout too: ``catalog_from_spec.py … > models.yaml`` gives no diff."""
    assert generated == (REPO / "models.yaml").read_text(encoding="utf-8")


def test_the_shipped_fold_is_the_specs_alias_of_column(generated: str) -> None:
    spec = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    made = yaml.safe_load(generated)
    stated = {e["id"]: e["alias_of"] for e in spec if e["status"] == "active_at_head" and e["alias_of"]}
    legacy = {a["id"]: a["alias_of"] for a in made["aliases"] if "alias_of" in a}
    assert len(stated) == 82 and len(legacy) == 71
    assert legacy.items() <= stated.items()
    folded_aliases = {a["id"] for a in made["aliases"] if a["id"] in stated and "alias_of" not in a}
    assert len(folded_aliases) == 11 and set(stated) == set(legacy) | folded_aliases
    assert not set(stated) & {m["id"] for m in made["models"]}


# --- the rule, on small spec files ---------------------------------------------------------------------------


def video_row(model_id: str, key: str, aspect: str = "LANDSCAPE", alias_of: str | None = None) -> dict[str, Any]:
    """One ``active_at_head`` t2v row of the spec's data file (the fields the generator reads)."""
    return {
        "id": model_id, "status": "active_at_head", "kind": "video", "sub_kind": "t2v",
        "upstream_video_model_key": key, "aspect_ratio": f"VIDEO_ASPECT_RATIO_{aspect}", "upsample_target": None,
        "upsampler_video_model_key": None, "min_images": 0, "max_images": 0, "required_tier": "PAYGATE_TIER_NOT_PAID",
        "ultra": False, "relaxed": False, "duration_seconds": 8, "alias_of": alias_of,
    }


def alias_row(alias_id: str, landscape: str, portrait: str, also_concrete: bool = False) -> dict[str, Any]:
    """One ``resolver_alias_at_head`` row (spec §4.4)."""
    return {
        "id": alias_id, "status": "resolver_alias_at_head", "kind": "video", "default_aspect": "landscape",
        "resolves_to": {"landscape": landscape, "portrait": portrait},
        "also_concrete_model_id": alias_id if also_concrete else None,
    }


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


ROWS = [
    video_row("clip", "veo_x"), video_row("clip_portrait", "veo_x", "PORTRAIT"),
    video_row("clip_landscape", "veo_x", alias_of="clip"),       # other words for the default
    video_row("clip_8s", "veo_x", alias_of="clip"),              # also a resolver alias's id
    alias_row("clip_8s", "clip_8s", "clip_portrait", also_concrete=True),
    alias_row("clip_any", "clip_landscape", "clip_portrait"),
]


def test_same_settings_ids_fold_into_the_first(tmp_path: Path) -> None:
    empty = write_yaml(tmp_path / "overlay.yaml", {"version": 1})
    run = generate(write_yaml(tmp_path / "spec.yaml", ROWS), overlay=empty)
    assert run.returncode == 0, run.stderr
    made = yaml.safe_load(run.stdout)
    assert [m["id"] for m in made["models"]] == ["clip", "clip_portrait"]
    aliases = {a["id"]: a for a in made["aliases"]}
    assert aliases["clip_landscape"] == {"id": "clip_landscape", "alias_of": "clip"}
    # the also-concrete alias whose model was folded: a plain alias over the canonical ids, hints still work
    assert "also_concrete" not in aliases["clip_8s"] and "clip_8s" not in {a.get("alias_of") for a in aliases.values()}
    assert aliases["clip_8s"]["targets"] == {"landscape": {"none": "clip"}, "portrait": {"none": "clip_portrait"}}
    assert aliases["clip_any"]["targets"]["landscape"] == {"none": "clip"}
    assert list(aliases)[-1] == "clip_landscape" and "# Legacy ids" in run.stdout


def test_a_fold_the_spec_does_not_state_stops_the_script(tmp_path: Path) -> None:
    rows = [video_row("clip", "veo_x"), video_row("clip_again", "veo_x"),        # same settings, no alias_of
            video_row("other", "veo_y", alias_of="clip")]                       # alias_of, other settings
    run = generate(write_yaml(tmp_path / "spec.yaml", rows), overlay=write_yaml(tmp_path / "o.yaml", {}))
    assert run.returncode == 1 and run.stdout == ""
    assert "alias_of" in run.stderr and "'clip_again', 'clip'" in run.stderr and "'other', 'clip'" in run.stderr


def test_the_overlay_and_route_files_are_merged(tmp_path: Path) -> None:
    spec = write_yaml(tmp_path / "spec.yaml", ROWS)
    route = {"provider": "flowweb-video", "options": {"video_model_key": "veo_x", "sub_kind": "t2v"}}
    routes = write_yaml(tmp_path / "routes.yaml", {"version": 1, "routes": {"clip": route, "clip_landscape": route}})
    own = {"id": "handmade", "kind": "video", "routes": [route]}
    friendly = {"id": "friendly", "kind": "video", "default_aspect": "landscape",
                "targets": {"landscape": {"none": "clip_landscape"}}}
    overlay = write_yaml(tmp_path / "overlay.yaml", {
        "version": 1, "models": [own], "aliases": [friendly], "comments": {"handmade": "Made by hand.\nTwo lines."}})
    run = generate(spec, routes, overlay=overlay)
    assert run.returncode == 0, run.stderr
    made = yaml.safe_load(run.stdout)
    by_id = {m["id"]: m for m in made["models"]}
    assert by_id["clip"]["routes"][1:] == [route]           # the folded id's identical route is not added twice
    assert list(by_id) == ["clip", "clip_portrait", "handmade"] and by_id["handmade"] == own
    aliases = [a["id"] for a in made["aliases"]]
    assert aliases == ["clip_8s", "clip_any", "friendly", "clip_landscape"]
    assert made["aliases"][2]["targets"] == {"landscape": {"none": "clip"}}     # re-pointed to the canonical id
    assert "\n# Made by hand.\n# Two lines.\n- id: handmade\n" in run.stdout

    other = {**route, "options": {"video_model_key": "veo_z", "sub_kind": "t2v"}}
    clash = write_yaml(tmp_path / "clash.yaml", {"routes": {"clip": route, "clip_landscape": other}})
    run = generate(spec, clash, overlay=overlay)
    assert run.returncode == 1 and "'clip_landscape' and another id of model 'clip'" in run.stderr
    typo = write_yaml(tmp_path / "typo.yaml", {"model": [own]})
    run = generate(spec, overlay=typo)
    assert run.returncode == 1 and "unknown keys ['model']" in run.stderr
