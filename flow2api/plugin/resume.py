"""A base for a provider's typed resume state: the JSON of ``Submitted.resume`` / ``Submitting.resume``.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports every name). The core stores the
mapping a provider yields in the task's ``resume`` column and hands it back to ``Provider.resume``
after a restart, so a provider's model must keep reading the rows earlier versions wrote: keep field
names, give new fields defaults (``extra="ignore"`` lets a newer row with more fields be read too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from flow2api.errors import Flow2APIError


class ResumeModel(BaseModel):
    """Frozen pydantic model of one job's resume state; subclass it with the provider's fields.

    ``to_json()`` gives the mapping for ``Submitted(resume=…)`` (``model_dump(mode="json")``: every field,
    ``None`` included); ``from_json(mapping)`` reads a stored one back.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able mapping for ``Submitted(resume=…)`` / ``Submitting(resume=…)``."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Read a stored mapping; ``Flow2APIError`` (500) when it is not a state of this model."""
        try:
            return cls.model_validate(dict(data))
        except (ValidationError, TypeError) as exc:
            raise Flow2APIError(f"the stored state of this job cannot be resumed: {exc.__class__.__name__}") from exc
