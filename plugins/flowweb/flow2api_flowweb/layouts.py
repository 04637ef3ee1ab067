"""Argument layouts of the flowweb RPCs: jspb positional arrays built exactly as spec §3, §5–§7 show.

Index *i* of an array is proto field *i+1*; unused slots are ``null`` (spec §2.4). Generation
RPCs carry the reCAPTCHA token in ``ctx[10]``; builders leave :data:`CAPTCHA_PLACEHOLDER`
there and the executor fills it just before sending (spec §3.1, §12).

Where sources conflict (spec §13) a :class:`Layout` picks the version: the defaults are the
preferred, live-seen ones; the alternatives are kept behind ``[flowweb]`` settings.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from flow2api_flowweb.envelope import CAPTCHA_PLACEHOLDER

#: Constant in every client context: the tool (PINHOLE) / "surface id" (spec §3.1).
SURFACE = 22
#: Full-frame crop the UI sends with a frame reference, ``[top, left, bottom, right]`` (spec §3.5).
FULL_CROP: list[Any] = [None, 0.0038759689922481244, 1, 0.9961240310077519]

#: Image aspect enum (ogiZ0b ITEM[4]), spec §3.6: measured from JPEG headers (A) or kaiyuc's swapped 4/5 (B).
IMAGE_ASPECTS: dict[str, dict[str, int]] = {
    "measured": {
        "IMAGE_ASPECT_RATIO_SQUARE": 1, "IMAGE_ASPECT_RATIO_PORTRAIT": 2, "IMAGE_ASPECT_RATIO_LANDSCAPE": 3,
        "IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR": 4, "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": 5,
    },
    "swapped": {
        "IMAGE_ASPECT_RATIO_SQUARE": 1, "IMAGE_ASPECT_RATIO_PORTRAIT": 2, "IMAGE_ASPECT_RATIO_LANDSCAPE": 3,
        "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": 4, "IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR": 5,
    },
}
#: Video aspect enum (spec §3.6).
VIDEO_ASPECTS = {"VIDEO_ASPECT_RATIO_PORTRAIT": 1, "VIDEO_ASPECT_RATIO_LANDSCAPE": 2, "VIDEO_ASPECT_RATIO_SQUARE": 0}
#: Image upscale target (SPrCad), spec §3.6.
IMAGE_UPSCALE = {"UPSAMPLE_IMAGE_RESOLUTION_2K": 1, "UPSAMPLE_IMAGE_RESOLUTION_4K": 2}
#: Video promotion target (p0UkFb row[6]), spec §3.6 / §5.8.
VIDEO_UPSCALE = {"VIDEO_RESOLUTION_720P": 1, "VIDEO_RESOLUTION_1080P": 2, "VIDEO_RESOLUTION_4K": 3}
#: Image input type (ogiZ0b imageInputs), spec §3.6.
INPUT_REFERENCE, INPUT_BASE = 1, 2
#: Generation resolution, bare-int encoding (version B, kaiyuc).
RESOLUTION_INTS = {"360p": 1, "720p": 2, "1080p": 3, "4k": 4}

Resolution = Literal["360p", "720p"]


def new_uuid(upper: bool = False) -> str:
    """A random UUID4 string (the UI sends upper-case ones in metadata blocks, spec §3.3)."""
    value = str(uuid.uuid4())
    return value.upper() if upper else value


def derived_id(seed: str) -> str:
    """The id the server derives from a seed UUID (spec §3.3 [src]): SHA-256 → 32 hex, version 4, variant 10xx."""
    digits = list(hashlib.sha256(seed[:64].encode()).hexdigest()[:32])
    digits[12] = "4"
    digits[16] = "89ab"[int(digits[16], 16) & 3]
    text = "".join(digits)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class Seeds:
    """The two seed UUIDs of a video item (spec §3.3): upper-case, as the UI sends them."""

    media: str
    workflow: str

    @classmethod
    def new(cls) -> Seeds:
        """Two fresh random seeds."""
        return cls(new_uuid(upper=True), new_uuid(upper=True))

    @property
    def media_id(self) -> str:
        """The media id Flow derives from the media seed (spec §3.3 [src]): known before the submit's reply."""
        return derived_id(self.media)

    @property
    def workflow_id(self) -> str:
        """The workflow id Flow derives from the workflow seed (spec §3.3 [src])."""
        return derived_id(self.workflow)


@dataclass(frozen=True, slots=True)
class Layout:
    """The spec §13 choices in force (see ``[flowweb]`` in config.py)."""

    image_aspect: Literal["measured", "swapped"] = "measured"
    resolution: Literal["option", "int"] = "option"
    trailer: Literal["per_mode", "always_2"] = "per_mode"
    crop: Literal["full", "none"] = "full"

    # -- fragments (spec §3) -------------------------------------------------------------------------------

    @staticmethod
    def context(project_id: str | None, *, captcha: bool = True) -> list[Any]:
        """Client context ``[null, 22, null×3, pid, null×4, [token, 1]]`` (spec §3.1)."""
        ctx: list[Any] = [None, SURFACE, None, None, None, project_id, None, None, None, None]
        if captcha:
            ctx.append([CAPTCHA_PLACEHOLDER, 1])
        return ctx

    @staticmethod
    def prompt(text: str) -> list[Any]:
        """Video prompt message ``[null, null, [[["text"]]]]`` (spec §3.2)."""
        return [None, None, [[[text]]]]

    @staticmethod
    def metadata(seeds: Seeds | None = None, scene_id: str | None = None) -> list[Any]:
        """Per-item block ``[scene, null, null, null, "<MEDIA SEED>", "<WORKFLOW SEED>"]`` (spec §3.3); new seeds
        unless given."""
        seeds = seeds or Seeds.new()
        return [scene_id, None, None, None, seeds.media, seeds.workflow]

    def trailer_for(self, mode: str) -> list[Any]:
        """Third top-level argument ``[uuid, n]``: n = 1 for t2v, 2 otherwise (A) or always 2 (B), spec §3.4."""
        return [new_uuid(), 1 if mode == "t2v" and self.trailer == "per_mode" else 2]

    def frame(self, media_id: str) -> list[Any]:
        """Frame reference ``[null, id, null, null, null, crop]`` (A) or ``[null, id]`` (B), spec §3.5."""
        if self.crop == "none":
            return [None, media_id]
        return [None, media_id, None, None, None, list(FULL_CROP)]

    def resolution_slot(self, item: list[Any], index: int, resolution: Resolution) -> list[Any]:
        """Put the generation resolution at ``item[index]``: ``[4]`` for 360p, nothing for 720p (A); a bare int (B)."""
        if self.resolution == "int":
            value: Any = RESOLUTION_INTS[resolution]
        elif resolution == "360p":
            value = [4]
        else:
            return item
        return item + [None] * (index - len(item)) + [value]

    # -- RPC arguments -------------------------------------------------------------------------------------

    @staticmethod
    def create_project(title: str) -> list[Any]:
        """``jHPbke`` (spec §7)."""
        return ["projects/*", [None, [title]], [None, SURFACE]]

    @classmethod
    def upload_image(cls, project_id: str, data_b64: str, mime_type: str, file_name: str) -> list[Any]:
        """``maseQ`` (spec §5.2): ctx, base64 without ``data:``, MIME, 1, null×4, file name, binding, 2 UUIDs."""
        return [cls.context(project_id), data_b64, mime_type, 1, None, None, None, None, file_name, None,
                new_uuid(), new_uuid()]

    def generate_images(
        self, project_id: str, *, model: str, aspect_ratio: str, prompt: str,
        inputs: list[tuple[str, int]], count: int, seed: int,
    ) -> list[Any]:
        """``ogiZ0b`` (spec §5.1): one ITEM per wanted image, seeds +9973 apart; inputs ``(media id, 1|2)``."""
        ctx = self.context(project_id)
        image_inputs = [[media_id, None, None, None, kind] for media_id, kind in inputs] or None
        aspect = IMAGE_ASPECTS[self.image_aspect][aspect_ratio]
        items = [
            [None, None, image_inputs, seed + 9973 * i, aspect, model, None, ctx, [[[prompt]]], None, None, None,
             new_uuid(), new_uuid()]
            for i in range(count)
        ]
        return [None, items, 1, ctx, [new_uuid()]]

    @classmethod
    def upscale_image(cls, media_id: str, target: str) -> list[Any]:
        """``SPrCad`` (spec §5.9): ``[id, 1|2, ctx]`` with a null project id, as flowkit sends it."""
        return [media_id, IMAGE_UPSCALE[target], cls.context(None)]

    def text_to_video(self, project_id: str, *, model: str, aspect_ratio: str, prompt: str,
                      resolution: Resolution, seeds: Seeds | None = None) -> list[Any]:
        """``YhhmEf`` (spec §5.3): ITEM = [P, key, aspect, null, M] (+ resolution at 7)."""
        item = [self.prompt(prompt), model, VIDEO_ASPECTS[aspect_ratio], None, self.metadata(seeds)]
        return [[self.resolution_slot(item, 7, resolution)], self.context(project_id), self.trailer_for("t2v")]

    def start_image_to_video(self, project_id: str, *, model: str, aspect_ratio: str, prompt: str, start: str,
                             resolution: Resolution, seeds: Seeds | None = None) -> list[Any]:
        """``eb1hJf`` (spec §5.4): ITEM = [P, key, aspect, null, F(start), M] (+ resolution at 9)."""
        item = [self.prompt(prompt), model, VIDEO_ASPECTS[aspect_ratio], None, self.frame(start), self.metadata(seeds)]
        return [[self.resolution_slot(item, 9, resolution)], self.context(project_id), self.trailer_for("i2v")]

    def first_last_to_video(self, project_id: str, *, model: str, aspect_ratio: str, prompt: str, start: str,
                            end: str, seeds: Seeds | None = None) -> list[Any]:
        """``nprQif`` (spec §5.5): ITEM = [P, key, aspect, null, F(start), F(end), M]."""
        item = [self.prompt(prompt), model, VIDEO_ASPECTS[aspect_ratio], None, self.frame(start), self.frame(end),
                self.metadata(seeds)]
        return [[item], self.context(project_id), self.trailer_for("i2v_first_last")]

    def references_to_video(self, project_id: str, *, model: str, aspect_ratio: str, prompt: str,
                            references: list[str], resolution: Resolution, seeds: Seeds | None = None) -> list[Any]:
        """``MZZa6b`` (spec §5.6): ITEM = [P, [[null, ref]…], key, aspect, null, M] (+ resolution at 11)."""
        refs = [[None, media_id] for media_id in references] or None
        item = [self.prompt(prompt), refs, model, VIDEO_ASPECTS[aspect_ratio], None, self.metadata(seeds)]
        return [[self.resolution_slot(item, 11, resolution)], self.context(project_id), self.trailer_for("r2v")]

    def extend_video(self, project_id: str, *, model: str, aspect_ratio: str, prompt: str, source: str,
                     source_seconds: int | None = None, seeds: Seeds | None = None) -> list[Any]:
        """``fZytfe`` (spec §5.7): ITEM = [[null, source, start frame, end frame], P, key, aspect, null, M].

        The frames are the source's last second at 24 fps (``s·24 − 23`` … ``s·24``), as the UI
        sends them; without a known duration the two frame slots stay null.
        """
        frames: list[Any] = [None, None]
        if source_seconds:
            frames = [source_seconds * 24 - 24 + 1, source_seconds * 24]
        item = [[None, source, *frames], self.prompt(prompt), model, VIDEO_ASPECTS[aspect_ratio], None,
                self.metadata(seeds)]
        return [[item], self.context(project_id), self.trailer_for("extend")]

    def edit_video(self, project_id: str, *, model: str, aspect_ratio: str, prompt: str, source: str,
                   start_frame: int, end_frame: int, references: list[str], resolution: Resolution,
                   seeds: Seeds | None = None) -> list[Any]:
        """``jIps6`` (spec §14.1, the captured layout): ITEM = [[null, source, start, end], P, key, aspect, M]
        (+ ``[[null, ref]…]`` at 8, + OutputSpec ``[4]`` at 12 for 360p); trailer ``[uuid, 2]``."""
        item: list[Any] = [[None, source, start_frame, end_frame], self.prompt(prompt), model,
                           VIDEO_ASPECTS[aspect_ratio], self.metadata(seeds)]
        if references:
            item += [None, None, None, [[None, media_id] for media_id in references]]
        return [[self.resolution_slot(item, 12, resolution)], self.context(project_id), self.trailer_for("edit")]

    def upscale_video(self, project_id: str, *, source: str, workflow_id: str, aspect_ratio: str, target: str,
                      upsampler_key: str, seed: str) -> list[Any]:
        """``p0UkFb`` (spec §5.8): a 32-slot row; args ``[[row], ctx, [uuid, 1]]``."""
        row: list[Any] = [None] * 32
        row[0] = [None, source]
        row[2] = VIDEO_ASPECTS[aspect_ratio]
        row[4] = [None, workflow_id, None, None, seed]
        row[6] = VIDEO_UPSCALE[target]
        row[31] = upsampler_key
        return [[row], self.context(project_id), [new_uuid(), 1]]

    @staticmethod
    def check_status(media_ids: list[str]) -> list[Any]:
        """``jwpduf`` (spec §6.1): several ids in one call."""
        return [None, None, [[media_id] for media_id in media_ids]]

    @staticmethod
    def get_media(media_id: str) -> list[Any]:
        """``as29s`` (spec §6.3)."""
        return [media_id]

    @staticmethod
    def credits() -> list[Any]:
        """``nzlxg`` (spec §7): no arguments."""
        return []

    @staticmethod
    def model_catalogue() -> list[Any]:
        """``HTrJv`` (spec §7): no arguments."""
        return []


def upscaled_id(media_id: str, target: str, seed: str, mode: Literal["suffix", "seed"]) -> str:
    """Id of an upscaled video: ``<id>_upsampled`` / ``<id>_4k_upsampled`` (A) or derived from the seed (B), spec §5.8."""
    if mode == "seed":
        return derived_id(seed)
    return f"{media_id}_4k_upsampled" if target == "VIDEO_RESOLUTION_4K" else f"{media_id}_upsampled"
