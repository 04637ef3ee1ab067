"""A tiny schema language for request bodies, and the checks shared by all {api} operations.

Request bodies are checked the way Google's JSON transcoder and the service would:
unknown fields are rejected (``Unknown name "x" at 'y': Cannot find field.``), required
fields must be present, enums must be exact, numbers in range. Every failure is a 400
``INVALID_ARGUMENT`` whose message names the JSON path of the field (e.g.
``requests[0].imageAspectRatio``). JSON ``null`` counts as absent (proto3 JSON rules).

Schemas are plain objects (`Obj`, `Arr`, `Str`, `Int`, `Bool`, `Any_`) built once at import
time in the operation modules; `validate(body, schema)` walks a body and returns it unchanged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import invalid_argument, unknown_field

Check = Callable[[Any, str], None]

SESSION_ID_RE = re.compile(r"^;\d{13}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DURATION_RE = re.compile(r"^\d+(\.\d{1,9})?s$")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Spec:
    """Base: ``required`` fields must be present and non-null; ``check`` runs after type checks."""

    required: bool = True
    check: Check | None = None

    def _validate(self, value: Any, path: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Any_(Spec):
    """Anything (used where the spec shows no inner shape)."""

    def _validate(self, value: Any, path: str) -> None:
        return None


@dataclass
class Str(Spec):
    """A string; ``enum`` (with ``enum_name`` for messages), ``pattern`` or ``nonempty`` restrict it."""

    enum: tuple[str, ...] | None = None
    enum_name: str = "TYPE_ENUM"
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""
    nonempty: bool = True

    def _validate(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise invalid_argument(path, f"Invalid value at '{path}' (TYPE_STRING), {_show(value)}")
        if self.enum is not None and value not in self.enum:
            raise invalid_argument(path, f"Invalid value at '{path}' ({self.enum_name}), {_show(value)}; "
                                         f"expected one of {', '.join(self.enum)}")
        if self.pattern is not None and not self.pattern.match(value):
            raise invalid_argument(path, f"Invalid value at '{path}', {_show(value)}: expected {self.pattern_hint}")
        if self.nonempty and not value:
            raise invalid_argument(path, f"Invalid value at '{path}': must not be empty")


@dataclass
class Int(Spec):
    """A JSON integer (booleans and fractions rejected), optionally bounded."""

    minimum: int | None = None
    maximum: int | None = None

    def _validate(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_argument(path, f"Invalid value at '{path}' (TYPE_INT32), {_show(value)}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise invalid_argument(path, f"Invalid value at '{path}', {value}: must be between "
                                         f"{self.minimum} and {self.maximum}")


@dataclass
class Bool(Spec):
    """A boolean; ``const`` pins its value (e.g. ``useNewMedia`` must be true)."""

    const: bool | None = None

    def _validate(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise invalid_argument(path, f"Invalid value at '{path}' (TYPE_BOOL), {_show(value)}")
        if self.const is not None and value is not self.const:
            raise invalid_argument(path, f"Invalid value at '{path}', {_show(value)}: must be {_show(self.const)}")


@dataclass
class Arr(Spec):
    """A list of ``item``; ``min_items``/``max_items`` bound its length."""

    item: Spec = field(default_factory=Any_)
    min_items: int = 0
    max_items: int | None = None

    def _validate(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise invalid_argument(path, f"Invalid value at '{path}' (TYPE_LIST), {_show(value)}")
        if len(value) < self.min_items or (self.max_items is not None and len(value) > self.max_items):
            bound = f"at most {self.max_items}" if self.max_items is not None and len(value) > self.max_items \
                else f"at least {self.min_items}"
            raise invalid_argument(path, f"Invalid value at '{path}': {len(value)} items, expected {bound}")
        for index, element in enumerate(value):
            _walk(element, self.item, f"{path}[{index}]")


@dataclass
class Obj(Spec):
    """A JSON object with exactly the known ``fields`` (unknown names are rejected)."""

    fields: dict[str, Spec] = field(default_factory=dict)
    #: Names the message type has but this operation does not take (clearer message than "unknown").
    not_here: tuple[str, ...] = ()
    not_here_hint: str = "this operation"

    def _validate(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise invalid_argument(path or "body", f"Invalid value at '{path or 'body'}' (TYPE_MESSAGE), {_show(value)}")
        for name in value:
            if name in self.not_here and value[name] is not None:
                child = f"{path}.{name}" if path else name
                raise invalid_argument(child, f"Invalid value at '{child}': not accepted by {self.not_here_hint}")
            if name not in self.fields and name not in self.not_here:
                raise unknown_field(name, path)
        for name, spec in self.fields.items():
            child = f"{path}.{name}" if path else name
            if value.get(name) is None:
                if spec.required:
                    raise invalid_argument(child, f"Required field '{child}' is missing.")
                continue
            _walk(value[name], spec, child)


def _walk(value: Any, spec: Spec, path: str) -> None:
    spec._validate(value, path)
    if spec.check is not None:
        spec.check(value, path)


def validate(body: dict[str, Any], schema: Obj) -> dict[str, Any]:
    """Check ``body`` against ``schema``; return it unchanged or raise a 400 `GoogleError`."""
    _walk(body, schema, "")
    return body


def session_id(required: bool = True) -> Str:
    """``sessionId`` = ``";"`` + Unix time in milliseconds (spec §1.5)."""
    return Str(required=required, pattern=SESSION_ID_RE, pattern_hint='";" followed by 13-digit Unix milliseconds')


def uuid_str(required: bool = True) -> Str:
    """A lower-case UUID (project ids, batch ids, video ids)."""
    return Str(required=required, pattern=UUID_RE, pattern_hint="a UUID")


def enum(*values: str, name: str, required: bool = True) -> Str:
    """A closed enum (``name`` is the proto enum type shown in messages)."""
    return Str(required=required, enum=values, enum_name=name)


RECAPTCHA_CONTEXT = Obj(required=False, fields={
    "token": Str(required=False, nonempty=False),
    "applicationType": enum("RECAPTCHA_APPLICATION_TYPE_WEB", name="RecaptchaApplicationType"),
})
"""``clientContext.recaptchaContext`` (spec §1.6). Optional for the schema: a missing context or
token is a reCAPTCHA failure (403), not a 400; see `captcha.verify_generation`."""

STRUCTURED_PROMPT = Obj(fields={
    "parts": Arr(min_items=1, item=Obj(fields={"text": Str()})),
})
"""``structuredPrompt`` = ``{"parts": [{"text": "<prompt>"}]}`` (spec §1.7, §2.6, §2.8)."""


def client_context(*, tool: str = "PINHOLE", project: bool | None = True, tier: bool = False) -> Obj:
    """The ``clientContext`` message (spec §1.5-§1.6, §2.5-§2.8).

    ``project``/``tier``: True = ``projectId``/``userPaygateTier`` required, False = optional.
    ``project=None``: optional and meaningless (legacy upload). ``recaptchaContext`` is always
    allowed by the schema; whether it is needed is the operation's business.
    """
    return Obj(fields={
        "sessionId": session_id(),
        "tool": enum(tool, name="Tool"),
        "projectId": uuid_str(required=bool(project)),
        "userPaygateTier": enum("PAYGATE_TIER_NOT_PAID", "PAYGATE_TIER_ONE", "PAYGATE_TIER_TWO",
                                name="PaygateTier", required=tier),
        "recaptchaContext": RECAPTCHA_CONTEXT,
    })


def prompt_text(structured_prompt: dict[str, Any]) -> str:
    """Join the text parts of a validated ``structuredPrompt``."""
    return "\n".join(part["text"] for part in structured_prompt["parts"])
