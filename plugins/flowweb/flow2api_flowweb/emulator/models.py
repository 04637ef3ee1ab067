"""The emulator's model table and the ``HTrJv`` model catalogue built from it (spec §5.7, §5.8, §7, §10).

One table says which model keys each video RPC takes, what they cost, which service tiers (``nzlxg[3]``,
1 ENTRY, 2 INTERMEDIATE, 3 ADVANCED; spec §3.6) may use them and which option requirement ids they carry.
``HTrJv`` (``[]`` arguments, no reCAPTCHA token, spec §8; its handler is in handlers.py) answers it in the
family layout of spec §7::

    payload = [[null, null, null, null, [VIDEO FAMILY…], [IMAGE FAMILY…]]]
    FAMILY  = [displayName, [USAGE…], null, familyId, null, hidden]
    USAGE   = 25 slots: [0] key, [1] UI label, [4] [[tier, [[null, credits], restriction]]…] (restriction
              null = available), [7] [[OPTION…]], [12] [[aspect…]], [16] seconds, [21] [maxAudio, null,
              maxImages], [22] duration flexible, [23] [[resolution…]], [24] disabled
    OPTION  = [name, [requirement id…]]

Extend (``fZytfe``) and promotion (``p0UkFb``) take only a key the table lists with the requirement ids
of the operation (extend 1 + 14; promotion 720p 21, 1080p 15, 4K 16) and that the account's service tier
may use: an unknown key is INVALID_ARGUMENT ``[3]``, a restricted one code 7
``PUBLIC_ERROR_MODEL_ACCESS_DENIED``, before any credit is taken. The extend key of the Lite usage is
``EmulatorSettings.extend_key`` so a test can rename it. Invented (EMULATOR.md): the option layout and
names, the other operations' requirement ids, the restriction value, the resolution enums, the image
families' slots, the tiers of the Quality extend and the 4K upsampler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .wire import RpcError, bad_args

if TYPE_CHECKING:
    from .app import FlowWebEmulator
    from .rpc import RpcContext

_N = (4, 6, 8, 10)
T2V_KEYS = frozenset(
    [f"abra_t2v_{n}s{r}" for n in _N for r in ("", "_360p")]
    + ["veo_3_1_t2v_lite", "veo_3_1_lite_lower_priority", "veo_3_1_t2v_fast"]
    + [f"veo_3_1_t2v_lite_{n}s_low_priority" for n in (4, 6, 8)]
)
I2V_KEYS = frozenset(
    [f"abra_i2v_{n}s{r}" for n in _N for r in ("", "_360p")]
    + ["veo_3_1_i2v_lite_low_priority", "veo_3_1_i2v_lite", "veo_3_1_i2v_s_fast_ultra"]
)
FIRST_LAST_KEYS = frozenset(
    [f"omni_flash_i2v_{n}s_first_last{r}" for n in _N for r in ("", "_360p")]
    + ["veo_3_1_interpolation_lite_low_priority", "veo_3_1_interpolation_lite", "veo_3_1_i2v_s_fl",
       "veo_3_1_i2v_s_portrait_fl", "veo_3_1_i2v_s_fast_ultra_fl", "veo_3_1_i2v_s_fast_portrait_ultra_fl"]
)
R2V_KEYS = frozenset([f"abra_r2v_{n}s{r}" for n in _N for r in ("", "_360p")] + ["veo_3_1_r2v_lite_low_priority"])
#: The invented second extend usage ("Veo 3.1 - Quality"); the Lite one's key is ``settings.extend_key``.
QUALITY_EXTEND_KEY = "veo_3_1_extend"
#: p0UkFb target enum (row[6], spec §3.6) → HTrJv requirement id (spec §5.8).
PROMOTION_REQUIREMENTS = {1: 21, 2: 15, 3: 16}
EXTEND_REQUIREMENTS = (1, 14)
#: Requirement ids of the other operations (invented: the spec names only extend's and promotion's).
_MODE_REQUIREMENTS = {"t2v": 2, "i2v": 3, "first_last": 4, "r2v": 5}
SERVICE_TIERS = (1, 2, 3)
#: The restriction slot of a tier that may not use a usage (invented; the spec says only "non-null").
RESTRICTED = [1, "PUBLIC_ERROR_MODEL_ACCESS_DENIED"]
#: Image model key → UI name (spec §10).
IMAGE_FAMILIES = {"GEM_PIX_2": "Nano Banana Pro", "NARWHAL": "Nano Banana 2", "HARBOR_SEAL": "Nano Banana 2 Lite",
                  "BELUGA": "Nano Banana 2.1"}


def cost(key: str) -> int:
    """Credits a video costs (invented but Omni 8 s = 12 and 4K upscale = 50, spec §10)."""
    if key == "veo_3_1_upsampler_4k":
        return 50
    if key.startswith(("abra_", "omni_")):
        return 12
    if "low_priority" in key or "lower_priority" in key:
        return 0
    if "fast" in key or "ultra" in key:
        return 20
    return 10


def duration(key: str) -> int:
    """Clip seconds the key implies (default 8)."""
    found = re.search(r"_(\d+)s(?:_|$)", key)
    return int(found.group(1)) if found else 8


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One row of the table: a model key, its UI label and family, requirement ids, tiers and credits."""

    key: str
    label: str
    family: str
    requirements: tuple[int, ...]
    tiers: tuple[int, ...] = SERVICE_TIERS
    aspects: tuple[int, ...] = (1, 2)
    credits: int | None = None
    max_images: int = 0

    @property
    def price(self) -> int:
        """Credits per use (``credits`` when set, else :func:`cost`)."""
        return cost(self.key) if self.credits is None else self.credits

    def row(self) -> list[Any]:
        """The 25-slot HTrJv USAGE of this row (module docstring)."""
        usage: list[Any] = [None] * 25
        usage[0], usage[1] = self.key, self.label
        usage[4] = [[tier, [[None, self.price], None if tier in self.tiers else list(RESTRICTED)]]
                    for tier in SERVICE_TIERS]
        usage[7] = [[[re.sub(r"\W+", "_", self.label.upper()).strip("_"), list(self.requirements)]]]
        usage[12] = [list(self.aspects)]
        usage[16] = duration(self.key)
        usage[21] = [1, None, self.max_images]
        usage[22] = False
        usage[23] = [[_resolution(self.key)]]
        usage[24] = False
        return usage


def _resolution(key: str) -> int:
    # invented enums: the promotion target ones of spec §3.6 (1 720p, 2 1080p, 3 4K) plus the [4] of 360p keys
    if key.endswith("_360p"):
        return 4
    return {"veo_3_1_upsampler_1080p": 2, "veo_3_1_upsampler_4k": 3}.get(key, 1)


def _family_of(key: str) -> str:
    if key.startswith(("abra_", "omni_")):
        return "Omni 1.1 Flash"
    if "fast" in key:
        return "Veo 3.1 - Fast"
    if "lite" in key or "lower_priority" in key:
        return "Veo 3.1 - Lite"
    return "Veo 3.1 - Quality"


def video_usages(emulator: FlowWebEmulator) -> list[ModelUsage]:
    """Every video usage of the table, generation keys first, then extend and upsamplers."""
    rows = [ModelUsage(key, key, _family_of(key), (_MODE_REQUIREMENTS[mode],),
                       aspects=(0, 1, 2) if key.startswith("abra_") else (1, 2), max_images=3 if mode == "r2v" else 0)
            for mode, keys in (("t2v", T2V_KEYS), ("i2v", I2V_KEYS), ("first_last", FIRST_LAST_KEYS),
                               ("r2v", R2V_KEYS))
            for key in sorted(keys)]
    return rows + [
        ModelUsage(emulator.settings.extend_key, "Extend (Veo 3.1 - Lite)", "Veo 3.1 - Lite", EXTEND_REQUIREMENTS),
        ModelUsage(QUALITY_EXTEND_KEY, "Extend (Veo 3.1 - Quality)", "Veo 3.1 - Quality", EXTEND_REQUIREMENTS,
                   tiers=(2, 3), credits=20),
        ModelUsage("veo_3_1_upsampler_1080p", "1080p Upscaled", "Upscale", (PROMOTION_REQUIREMENTS[2],)),
        ModelUsage("veo_3_1_upsampler_4k", "4K Upscaled", "Upscale", (PROMOTION_REQUIREMENTS[3],), tiers=(2, 3)),
    ]


def _families(usages: list[ModelUsage]) -> list[list[Any]]:
    grouped: dict[str, list[ModelUsage]] = {}
    for usage in usages:
        grouped.setdefault(usage.family, []).append(usage)
    return [[name, [u.row() for u in rows], None, re.sub(r"\W+", "_", name.lower()).strip("_"), None, False]
            for name, rows in grouped.items()]


def catalogue_payload(emulator: FlowWebEmulator) -> list[Any]:
    """The ``HTrJv`` payload: video families at ``[0][4]``, image families at ``[0][5]`` (spec §7)."""
    images = [ModelUsage(key, name, name, (), aspects=(1, 2, 3, 4, 5), credits=0, max_images=10)
              for key, name in IMAGE_FAMILIES.items()]
    return [[None, None, None, None, _families(video_usages(emulator)), _families(images)]]


def usage_for(rc: RpcContext, key: Any, requirements: tuple[int, ...], where: str) -> ModelUsage:
    """The usage ``key`` of the table carrying every id of ``requirements``, open to the account's service tier.

    INVALID_ARGUMENT ``[3]`` (naming ``where``) for a key the catalogue does not list for the operation;
    code 7 ``PUBLIC_ERROR_MODEL_ACCESS_DENIED`` for one the account's service tier may not use.
    """
    found = [u for u in video_usages(rc.emulator) if u.key == key and set(requirements) <= set(u.requirements)]
    if not found:
        raise bad_args(f"{where}: {key!r} is not a {rc.rpcid} model key of the catalogue (HTrJv)")
    usage = found[0]
    if rc.account.service_tier not in usage.tiers:
        raise RpcError(7, f"{key} is not available to service tier {rc.account.service_tier}",
                       reasons=["PUBLIC_ERROR_MODEL_ACCESS_DENIED"])
    return usage
