"""What every surface's request model shares: reading the body, strict validation, errors naming ``param``.

A JSON body is validated in pydantic's *strict* mode, so the types are the
ones the OpenAI and Gemini references give: ``"stream": "yes"`` or ``"n": "2"``
is a 400 (the reference APIs refuse them too), as is ``true`` for an integer.
A multipart form carries only strings, so forms are validated in lax mode
(``n=2`` arrives as ``"2"``; ``stream=true`` as ``"true"``). Fields the models do
not name are kept (``extra="allow"``) and ignored, as OpenAI clients send many
(``user``, ``temperature`` …); fields the models name are typed.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from aiohttp import web
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from flow2api.api.inputs import FORM_TYPES, read_form
from flow2api.catalog import CatalogEntry, ResolveHints
from flow2api.errors import InvalidRequestError
from flow2api.pipeline.route import read_json_object
from flow2api.plugin import Kind
from flow2api.settings import SETTINGS, Settings
from flow2api.storage.tasks import summarize_request

# Image headers sit at the start of the file; 1 MiB of base64 (768 KiB of bytes) covers JPEGs with big EXIF blocks.
_HEADER_B64_CHARS = 1 << 20


class Loose(BaseModel):
    """A part of a request: named fields typed, other fields kept and ignored."""

    model_config = ConfigDict(extra="allow")


def spelled(*names: str, default: Any = None) -> Any:
    """A field read under any of ``names`` (camelCase and snake_case spellings), the first one present winning."""
    return Field(default, validation_alias=AliasChoices(*names))


def data_path(loc: tuple[str | int, ...], data: Any, *, missing: bool = False) -> list[str | int]:
    """The part of a pydantic error location that names places in ``data`` (union member names such as ``str``
    or ``ImageReference`` dropped); a ``missing`` error keeps its last, absent key."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, Mapping) and part in node:
            node = node[part]
        elif not (missing and i == len(loc) - 1):
            continue
        path.append(part)
    return path


def param_of(path: list[str | int]) -> str:
    """A data path as the request field it names: ``["messages", 0, "role"]`` → ``messages[0].role``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


_TYPE_WORDS = {"int": "an integer", "bool": "a boolean", "string": "a string", "float": "a number",
               "list": "an array", "dict": "an object", "model": "an object", "literal": "one of the listed values"}


def validation_message(errors: list[Mapping[str, Any]], param: str) -> str:
    """One readable sentence for the pydantic errors about one field, in OpenAI's wording where it has one."""
    error = errors[0]
    kind = error["type"]
    if kind == "missing":
        return f"You must provide the '{param}' parameter."
    expected = [_TYPE_WORDS.get(e["type"].removesuffix("_type")) for e in errors if e["type"].endswith("_type")]
    if len(expected) == len(errors) and all(expected):
        got = type(error.get("input")).__name__
        return f"Invalid type for '{param}': expected {' or '.join(dict.fromkeys(expected))}, but got {got} instead."
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"Invalid value for '{param}': {shown}. {error['msg']}."


def parse_as(model: type[BaseModel], data: Mapping[str, Any], *, strict: bool) -> Any:
    """``model`` validated from ``data``; a problem → ``InvalidRequestError`` (400) naming its ``param``: the one
    deepest in the request when several members of a union disagree."""
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        paths = [data_path(e["loc"], data, missing=e["type"] == "missing") for e in errors]
        deepest = max(paths, key=len)
        same = [e for e, p in zip(errors, paths, strict=True) if p == deepest]
        param = param_of(deepest)
        raise InvalidRequestError(validation_message(same, param), param=param) from None


def data_uri_header(uri: str) -> bytes | None:
    """The first bytes (enough for the image header) of a base64 ``data:`` URI, or ``None``."""
    head, sep, payload = uri.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        return None
    chunk = payload[:_HEADER_B64_CHARS]
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        return binascii.a2b_base64(chunk)
    except (binascii.Error, ValueError):
        return None


def check_prompt(prompt: str, settings: Settings, param: str) -> str:
    """``prompt`` stripped; 400 naming ``param`` when it is empty or longer than ``[generation] max_prompt_chars``."""
    prompt = prompt.strip()
    if not prompt:
        raise InvalidRequestError("The prompt must not be empty.", param=param)
    limit = settings.generation.max_prompt_chars
    if len(prompt) > limit:
        raise InvalidRequestError(
            f"The prompt is {len(prompt)} characters long; at most {limit} are accepted.", param=param)
    return prompt


class ImageConfigHints(Loose):
    """Gemini's ``imageConfig`` as a hint (also under ``extra_body``): ``aspectRatio``, ``imageSize``."""

    aspect_ratio: str | None = spelled("aspectRatio", "aspect_ratio")
    image_size: str | None = spelled("imageSize", "image_size")


class GenerationConfigHints(Loose):
    """``generationConfig`` as a hint: its ``imageConfig``, a top-level ``aspectRatio`` and ``durationSeconds``."""

    image_config: ImageConfigHints | None = spelled("imageConfig", "image_config")
    aspect_ratio: str | None = spelled("aspectRatio", "aspect_ratio")
    duration_seconds: int | str | None = spelled("durationSeconds", "duration_seconds")


class ExtraBodyHints(Loose):
    """A literal ``extra_body`` object some clients send: its ``generationConfig``."""

    generation_config: GenerationConfigHints | None = spelled("generationConfig", "generation_config")


class SurfaceModel(Loose):
    """The base of a surface's request model (see :class:`flow2api.pipeline.route.SurfaceRequest`).

    Subclasses set ``kind``, ``model_in_path``, ``forms`` (also accepts
    multipart/urlencoded bodies, turned into fields by :meth:`from_form`) and
    implement :meth:`check` for what one field cannot say alone.
    """

    model_in_path: ClassVar[bool] = False
    kind: ClassVar[Kind | None] = None
    forms: ClassVar[bool] = False
    #: ``(param, bytes)`` of the files a multipart body uploaded, in form order.
    _uploads: list[tuple[str, bytes]] = PrivateAttr(default_factory=list)

    @classmethod
    async def read(cls, request: web.Request) -> Self:
        """The body of ``request`` as this model: JSON strictly, a form (if ``forms``) laxly; then :meth:`check`."""
        settings = request.config_dict[SETTINGS].current
        if cls.forms and request.content_type in FORM_TYPES:
            form, _ = await read_form(request)
            fields, given = cls.from_form(form, settings.generation.max_input_image_bytes)
            parsed = parse_as(cls, fields, strict=False)
            parsed._uploads = given
        else:
            parsed = parse_as(cls, await read_json_object(request, allow_empty=cls.model_in_path), strict=True)
        parsed.check(settings)
        return parsed

    @classmethod
    def from_form(cls, form: Any, max_bytes: int) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """A form's text fields (as the JSON body would name them) and its uploads as ``(param, bytes)``."""
        return {k: v for k, v in form.items() if isinstance(v, str)}, []

    def check(self, settings: Settings) -> None:
        """Checks across fields and against the settings' limits; raise ``InvalidRequestError`` naming ``param``."""

    def check_resolved(self, request: web.Request, requested: str, entry: CatalogEntry) -> None:
        """Checks that depend on the resolved model (default: none)."""

    def image_header(self) -> bytes | None:
        """The start of the first inline input image (default: none)."""
        return None

    def summary(self) -> Any:
        """The request as stored with its task row: the fields sent, bounded (:func:`summarize_request`)."""
        return summarize_request(self.model_dump(mode="json", exclude_unset=True, by_alias=False))


class HintFields(SurfaceModel):
    """The resolver-hint fields a JSON body may carry (spec §4.4): ``generationConfig.imageConfig.{aspectRatio,
    imageSize}`` (also under ``extra_body``, snake_case too) win over top-level ``aspect_ratio``/``aspectRatio``,
    ``image_size``/``imageSize``; ``size`` and ``quality`` are declared by each surface."""

    aspect_ratio: str | None = spelled("aspect_ratio", "aspectRatio")
    image_size: str | None = spelled("image_size", "imageSize")
    generation_config: GenerationConfigHints | None = spelled("generationConfig", "generation_config")
    extra_body: ExtraBodyHints | None = spelled("extra_body", "extraBody")

    def hints(self) -> ResolveHints:
        """:class:`ResolveHints` from the typed fields (without input image dims)."""
        config = self.generation_config or (self.extra_body.generation_config if self.extra_body else None)
        image = config.image_config if config and config.image_config else ImageConfigHints()
        return ResolveHints(
            aspect_ratio=_text(image.aspect_ratio, self.aspect_ratio, config.aspect_ratio if config else None),
            image_size=_text(image.image_size, self.image_size),
            size=_text(getattr(self, "size", None)),
            quality=_text(getattr(self, "quality", None)),
            seconds=_text(*(str(v) for v in (getattr(self, "seconds", None),
                                             config.duration_seconds if config else None) if v is not None)),
        )


def _text(*values: str | None) -> str | None:
    return next((v for v in values if isinstance(v, str) and v.strip()), None)
