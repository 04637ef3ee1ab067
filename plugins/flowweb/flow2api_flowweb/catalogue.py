"""Reading the ``HTrJv`` model catalogue: families, usages, per-tier costs and option requirement ids (spec §7).

The layout (spec §7 "HTrJv family layout", sources FG-ext / FG-imgm)::

    payload[0][4] = video families, payload[0][5] = image families
    FAMILY = [displayName, [USAGE…], ?, familyId, ?, hidden]
    USAGE  = [0] model key, [4] [[tier, [[?, credits], restriction]], …] (restriction non-null = unavailable),
             [7][0] options, each carrying a requirement-id list, [12][0] aspect enums, [16] seconds,
             [21] [maxAudio, ?, maxImages], [22] duration flexible, [23][0] resolution enums, [24] disabled

Tiers are service tiers (``nzlxg[3]``: 1 ENTRY, 2 INTERMEDIATE, 3 ADVANCED, spec §3.6). Parsing is tolerant
in the way :mod:`~flow2api_flowweb.records` is: trailing and unknown slots are ignored, a family or usage
that is not shaped like one is skipped; only a payload with neither family list raises
``UpstreamProtocolError``. Requirement ids are read as every list of integers inside an option, because the
spec names the list but not its slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flow2api.errors import UpstreamProtocolError
from flow2api_flowweb.records import as_int, at_path
from flow2api_flowweb.statuses import walk

#: Requirement ids of the operations the plugin picks keys for (spec §5.7, §5.8).
EXTEND_REQUIREMENTS = (1, 14)
PROMOTION_REQUIREMENTS = {"VIDEO_RESOLUTION_720P": 21, "VIDEO_RESOLUTION_1080P": 15, "VIDEO_RESOLUTION_4K": 16}
SERVICE_TIER_NAMES = {0: "UNSPECIFIED", 1: "ENTRY", 2: "INTERMEDIATE", 3: "ADVANCED"}


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(v for v in value if as_int(v) is not None) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class TierCost:
    """One entry of USAGE[4]: the credits a use costs on ``tier`` and whether that tier may use it."""

    tier: int
    credits: int | None
    available: bool


@dataclass(frozen=True, slots=True)
class Usage:
    """One usage (model key) of a family, as HTrJv lists it."""

    key: str
    family: str
    costs: tuple[TierCost, ...]
    requirements: frozenset[int]
    aspects: tuple[int, ...]
    duration: int | None
    max_images: int | None
    resolutions: tuple[int, ...]
    disabled: bool
    hidden: bool

    def cost_for(self, tier: int | None) -> TierCost | None:
        """The cost entry of service tier ``tier``; for an unknown tier (``None``) the cheapest available one."""
        if tier is None:
            open_ = [c for c in self.costs if c.available]
            return min(open_, key=lambda c: c.credits if c.credits is not None else 0) if open_ else None
        return next((c for c in self.costs if c.tier == tier), None)

    def available_to(self, tier: int | None) -> bool:
        """Whether an account of service tier ``tier`` may use it: not disabled, and its tier entry has no
        restriction (a usage without any cost list restricts nobody; a tier it does not list may not use it)."""
        if self.disabled:
            return False
        if not self.costs:
            return True
        entry = self.cost_for(tier)
        return entry is not None and entry.available


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The parsed HTrJv reply: video and image usages in the catalogue's order."""

    video: tuple[Usage, ...]
    image: tuple[Usage, ...]

    def usable(self, requirements: Iterable[int], *, tier: int | None, aspect: int | None = None) -> list[Usage]:
        """Video usages carrying every id of ``requirements``, available to ``tier`` and (when the usage lists
        aspects) offering ``aspect``; cheapest for the tier first, catalogue order among equals."""
        wanted = set(requirements)
        found = [u for u in self.video if wanted <= u.requirements and u.available_to(tier)
                 and (aspect is None or not u.aspects or aspect in u.aspects)]

        def credits(usage: Usage) -> int:
            entry = usage.cost_for(tier)
            return entry.credits if entry is not None and entry.credits is not None else 0

        return sorted(found, key=credits)


def _costs(value: Any) -> tuple[TierCost, ...]:
    costs = []
    for entry in value if isinstance(value, list) else []:
        tier = as_int(at_path(entry, 0))
        if tier is None:
            continue
        costs.append(TierCost(tier, as_int(at_path(entry, 1, 0, 1)), at_path(entry, 1, 1) is None))
    return tuple(costs)


def _requirements(options: Any) -> frozenset[int]:
    found: set[int] = set()
    for option in options if isinstance(options, list) else []:
        for value in walk(option):
            if isinstance(value, list) and value and all(as_int(v) is not None for v in value):
                found.update(value)
    return frozenset(found)


def to_usage(value: list[Any], family: str, hidden: bool) -> Usage:
    """A :class:`Usage` from one USAGE array whose slot 0 is the key (absent optional slots → empty/None)."""
    return Usage(
        key=value[0], family=family, costs=_costs(at_path(value, 4)), requirements=_requirements(at_path(value, 7, 0)),
        aspects=_ints(at_path(value, 12, 0)), duration=as_int(at_path(value, 16)),
        max_images=as_int(at_path(value, 21, 2)),
        resolutions=_ints(at_path(value, 23, 0)), disabled=at_path(value, 24) is True, hidden=hidden,
    )


def _usages(families: Any) -> tuple[Usage, ...]:
    found = []
    for family in families if isinstance(families, list) else []:
        name, usages = at_path(family, 0), at_path(family, 1)
        if not isinstance(usages, list):
            continue
        hidden = at_path(family, 5) is True
        found += [to_usage(u, name if isinstance(name, str) else "", hidden)
                  for u in usages if isinstance(at_path(u, 0), str) and at_path(u, 0)]
    return tuple(found)


def parse_catalogue(payload: Any, rpc: str = "HTrJv") -> Catalogue:
    """The :class:`Catalogue` of an ``HTrJv`` reply; ``UpstreamProtocolError`` when ``payload[0][4]`` and
    ``payload[0][5]`` are both missing (upstream changed)."""
    video, image = at_path(payload, 0, 4), at_path(payload, 0, 5)
    if not isinstance(video, list) and not isinstance(image, list):
        raise UpstreamProtocolError(f"Flow {rpc} reply: payload[0][4] and [0][5] (model families) are missing "
                                    "(upstream changed?)")
    return Catalogue(_usages(video), _usages(image))
