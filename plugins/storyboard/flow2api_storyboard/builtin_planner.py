"""The built-in planner (no network): a story → balanced scenes, recurring named characters, image prompts.

* **Scenes.** Paragraphs (blank-line separated) are the units; when the story has fewer paragraphs than
  scenes wanted, sentences are. Units are grouped into contiguous scenes of about equal length (the
  group boundaries nearest to ``k/n`` of the text). Without a requested count the story gets one scene per
  paragraph, at most :data:`DEFAULT_MAX_SCENES`; more scenes than sentences cannot be made.
* **Characters.** A capitalised word that is not a common word (``The``, ``She`` …), that occurs at least
  twice with once in the middle of a sentence (or three times), is a name; it is recurring when it appears in
  two scenes or more. Its description is the appositive the story gives it (``Mira, a young
  lighthouse keeper with a red scarf``) or ``Name was a …``; else a generic one.
* **Prompts.** The scene's title and the start of its narration; :func:`~flow2api_storyboard.model.compose_prompt`
  adds the style and the characters' descriptions.
"""

from __future__ import annotations

import re
from collections import Counter

from flow2api_storyboard.model import Character, Plan, PlannedScene

DEFAULT_MAX_SCENES = 12
PROMPT_CHARS = 400
_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]?[A-Z0-9])")
_WORD = re.compile(r"\b[A-Z][a-zà-ÿ]+(?:-[A-Z][a-zà-ÿ]+)?\b")
_COMMON = frozenset("""
    A An And As At But By For From He Her Hers Him His How I If In Into It Its Me My No Not Now Of On Once One Or
    Our She So Some Suddenly That The Their Them Then There These They This Those Through To Up We What When Where
    Which While Who Why With Yes You Your After Before Later Soon Finally Still Even Only Every Each All Both
    Meanwhile Outside Inside Tonight Today Tomorrow Yesterday Morning Evening Night Chapter Scene Above Below
    Mr Mrs Ms Dr Sir Lady Lord Monday Tuesday Wednesday Thursday Friday Saturday Sunday God Oh Ah Well Here
""".split())


def _paragraphs(story: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", story.strip()) if p.strip()]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def _group(units: list[str], count: int) -> list[str]:
    """``units`` joined into ``count`` contiguous groups of about equal length (``count <= len(units)``)."""
    total = sum(len(u) for u in units)
    groups: list[list[str]] = [[] for _ in range(count)]
    done = 0
    for i, unit in enumerate(units):
        # the group whose share of the text this unit's middle falls in, but never skipping one: every group
        # must keep at least one unit for the units that remain
        share = int((done + len(unit) / 2) * count / max(total, 1))
        current = next((g for g in range(count - 1, -1, -1) if groups[g]), 0)
        remaining_units, remaining_groups = len(units) - i, count - current - (1 if groups[current] else 0)
        target = min(max(share, current), count - 1)
        if remaining_units <= remaining_groups:
            target = current + 1 if groups[current] else current
        groups[target].append(unit)
        done += len(unit)
    return [" ".join(g) for g in groups if g]


def _names(story: str) -> list[str]:
    """Capitalised non-common words seen twice with once mid-sentence, or three times; by first appearance."""
    counts: Counter[str] = Counter()
    inner: set[str] = set()
    order: dict[str, int] = {}
    for sentence in _sentences(" ".join(_paragraphs(story))):
        for match in _WORD.finditer(sentence):
            word = match[0]
            if word in _COMMON:
                continue
            counts[word] += 1
            order.setdefault(word, len(order))
            if match.start() > 0:
                inner.add(word)
    # a word only ever seen opening sentences is a name when it opens three or more (a name rarely needs an article)
    return sorted((w for w in counts if counts[w] >= 2 and (w in inner or counts[w] >= 3)), key=order.__getitem__)


def _describe(name: str, story: str) -> str:
    text = " ".join(story.split())
    for pattern in (rf"\b{re.escape(name)},\s+((?:an?|the)\s+[^,.;:!?]+)",
                    rf"\b{re.escape(name)}\s+(?:was|is)\s+((?:an?|the)\s+[^,.;:!?]+)"):
        match = re.search(pattern, text)
        if match:
            return match[1].strip()[:200]
    return "the same recognisable person in every scene (same face, hair and clothing)"


def _title(text: str) -> str:
    words = re.sub(r"[\"“”‘’]", "", _sentences(text)[0] if _sentences(text) else text).split()
    title = " ".join(words[:6]).rstrip(",;:.!?")
    return title + ("…" if len(words) > 6 else "")


def plan_builtin(story: str, scenes: int | None) -> Plan:
    """Plan ``story`` into ``scenes`` scenes (``None``: one per paragraph, at most 12); see the module docstring.

    Raises ``ValueError`` for a story without text."""
    paragraphs = _paragraphs(story)
    if not paragraphs:
        raise ValueError("the story has no text")
    wanted = scenes if scenes is not None else min(len(paragraphs), DEFAULT_MAX_SCENES)
    units = paragraphs
    if len(units) < wanted:
        units = [s for p in paragraphs for s in _sentences(p)]
    texts = _group(units, min(wanted, len(units)))
    names = _names(story)
    shown = [[n for n in names if re.search(rf"\b{re.escape(n)}\b", text)] for text in texts]
    recurring = [n for n in names if sum(n in s for s in shown) >= 2]
    planned = [
        PlannedScene(title=_title(text), narration=text, prompt=text[:PROMPT_CHARS].rsplit(" ", 1)[0]
                     if len(text) > PROMPT_CHARS else text, characters=[n for n in s if n in recurring])
        for text, s in zip(texts, shown, strict=True)
    ]
    return Plan(characters=[Character(name=n, description=_describe(n, story)) for n in recurring], scenes=planned)
