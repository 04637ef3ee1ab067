"""Fault injection both Flow emulators share: which requests a rule matches, how often it fires, who decides.

A rule (a :class:`MatchingRule` subclass declaring its ``kind`` literal and parameters) matches
requests by account e-mail and/or operation name (an ``fnmatch`` pattern, e.g.
``batchAsyncGenerateVideo*`` or ``ogiZ0b``), fires at most ``count`` times (None = forever) with
``probability``, decided by a seeded ``random.Random`` so runs are reproducible. Each emulator
subclasses :class:`FaultInjector` with its rule model and applies the rules where its kinds act
(the labs.google emulator's table is in ``flow2api_videofx.emulator.faults``, the flow.google.com
one's in ``flow2api_flowweb.emulator.faults``).
"""

from __future__ import annotations

import fnmatch
import logging
import random
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)


class MatchingRule(BaseModel):
    """What every emulator's fault rule shares: which requests it matches, how often it fires, its bookkeeping.

    ``account`` (e-mail) and ``operation`` (fnmatch pattern) are both optional;
    ``count`` None = forever; ``probability`` in [0, 1]; ``id`` is generated and
    ``fired`` counts the firings. Subclasses narrow ``kind`` to their literal
    and add its parameters (``extra="forbid"``: an unknown key is a 400 on
    ``POST /_emulator/faults``).
    """

    model_config = ConfigDict(extra="forbid")

    kind: str
    account: str | None = None
    operation: str | None = None
    count: int | None = Field(None, ge=1)
    probability: float = Field(1.0, ge=0.0, le=1.0)
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    fired: int = 0

    def matches(self, kind: str, operation: str, account: str | None) -> bool:
        """Whether the rule applies to a request of ``kind``/``operation``/``account`` and has firings left."""
        if self.kind != kind or (self.count is not None and self.fired >= self.count):
            return False
        if self.account is not None and self.account != account:
            return False
        return self.operation is None or fnmatch.fnmatchcase(operation, self.operation)


class FaultInjector:
    """The active rules of one emulator. ``take`` decides (and counts) whether one fires.

    ``rule_model`` is the emulator's rule class (a :class:`MatchingRule`
    subclass); ``seed`` seeds the probability rolls.
    """

    rule_model: type[MatchingRule] = MatchingRule

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[Any] = []
        self._random = random.Random(seed)

    def add(self, rule: MatchingRule | dict[str, Any]) -> Any:
        """Add a rule (a rule object or its JSON dict); returns it with its ``id``.

        Raises ``pydantic.ValidationError`` when the dict is not a valid ``rule_model``.
        """
        if not isinstance(rule, self.rule_model):
            rule = self.rule_model.model_validate(rule)
        self.rules.append(rule)
        logger.info("fault rule added: %s", rule.model_dump(exclude_defaults=True))
        return rule

    def remove(self, rule_id: str) -> bool:
        """Remove one rule by id; False when there is none."""
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def take(self, kind: str, operation: str, account: str | None) -> Any:
        """The first rule of ``kind`` that matches and wins its probability roll, counted as fired; else None."""
        for rule in self.rules:
            if not rule.matches(kind, operation, account):
                continue
            if rule.probability < 1.0 and self._random.random() >= rule.probability:
                continue
            rule.fired += 1
            logger.info("fault %s fired on %s (account %s)", kind, operation, account)
            return rule
        return None
