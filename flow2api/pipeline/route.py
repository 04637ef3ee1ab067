"""Stage 5, route: parse the body once and resolve the model against the current catalog.

Only handlers marked with :func:`generation` go through this stage (and the
token selection and proxy routing stages after it); listing models or reading a
video job does not. The Images and Videos handlers read multipart forms
themselves and resolve through the same :func:`resolve_entry`.
The catalog snapshot read here is the one the request keeps, even if the file
is reloaded while it runs.

When the model is a resolver alias (spec §4.4), the request's hints choose the
concrete model here, before an account is leased for it (a 4K variant needs
another tier than the 1K one). Hints are read from the body the stage parsed:

* JSON (OpenAI chat / Images / Videos, and Gemini bodies): top-level ``size``,
  ``quality``, ``aspect_ratio`` (or ``aspectRatio``), ``image_size`` (or
  ``imageSize``); ``generationConfig.imageConfig.{aspectRatio,imageSize}``
  (also under ``extra_body``, and snake_case spellings), which win over the
  top-level ones; ``seconds`` (or ``durationSeconds``) for aliases with durations; the first input image — the first ``image_url`` data URI of
  the last message, the deprecated top-level ``image`` data URI, or the first
  ``inlineData`` of the last Gemini ``contents`` item — for its pixel size.
* Images edits and Videos (multipart or JSON, read by their handlers): the same
  field names, and the first input image.

Input images given as ``http(s)`` URLs are not fetched here (no account, no
proxy yet): such a request resolves from its other hints or the alias's default.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from aiohttp import web

from flow2api.catalog import CATALOG, Catalog, CatalogEntry, ResolveHints, hints_from_image
from flow2api.errors import InvalidRequestError, PayloadTooLargeError, ProviderUnavailableError
from flow2api.request_state import STATE

log = logging.getLogger(__name__)

ModelSource = Literal["json", "path"]
_MARK = "__flow2api_generation__"
# Image headers sit at the start of the file; 1 MiB of base64 (768 KiB of bytes) covers JPEGs with big EXIF blocks.
_HEADER_B64_CHARS = 1 << 20


def generation(model_source: ModelSource = "json") -> Callable[[Any], Any]:
    """Mark a handler as a generation endpoint: it gets a parsed body, a catalog entry, a leased account.

    ``model_source`` says where the body and the model id are:

    ``json``
        A JSON object body (``state.body``) with a ``model`` field.
    ``path``
        The URL's ``{model}`` part (Gemini); a JSON body, if any, is parsed into
        ``state.body`` too (an empty body gives ``{}``).
    """

    def mark(handler: Any) -> Any:
        setattr(handler, _MARK, model_source)
        return handler

    return mark


def generation_source(request: web.Request) -> ModelSource | None:
    """The :func:`generation` mark of the request's route handler, or ``None`` for other handlers."""
    return getattr(request.match_info.handler, _MARK, None)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


async def read_json_object(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; 400 for bad JSON (too deep, unpaired surrogates) or a non-object,
    413 past the size limit.

    ``allow_empty`` turns an empty body into ``{}`` (Gemini paths carry the model in the URL).
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError("The request body is larger than the server accepts") from None
    if allow_empty and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. Send a JSON object with Content-Type: application/json."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    # JSON may escape a lone UTF-16 surrogate (\ud800), which no UTF-8 text can hold: refuse it here rather
    # than fail later when the prompt is stored or sent upstream. Only bodies with such an escape pay the check.
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequestError("The request contains an unpaired Unicode surrogate (not valid UTF-8 text).") from None
    return body


def _text(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value
    return None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def hints_from_body(body: Mapping[str, Any]) -> ResolveHints:
    """:class:`ResolveHints` from a parsed JSON or form body (without input image dims; see the module docstring)."""
    extra = _dict(body.get("extra_body") or body.get("extraBody"))
    config = _dict(body.get("generationConfig") or body.get("generation_config")
                   or extra.get("generationConfig") or extra.get("generation_config"))
    image_config = _dict(config.get("imageConfig") or config.get("image_config"))
    return ResolveHints(
        aspect_ratio=_text(image_config.get("aspectRatio"), image_config.get("aspect_ratio"),
                           body.get("aspect_ratio"), body.get("aspectRatio"), config.get("aspectRatio")),
        image_size=_text(image_config.get("imageSize"), image_config.get("image_size"),
                         body.get("image_size"), body.get("imageSize")),
        size=_text(body.get("size")),
        quality=_text(body.get("quality")),
        seconds=_seconds(body.get("seconds"), body.get("durationSeconds"), config.get("durationSeconds")),
    )


def _seconds(*values: Any) -> str | None:
    """The first whole-number clip length among ``values`` (JSON number or text), as text."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _data_uri_header(uri: str) -> bytes | None:
    head, sep, payload = uri.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        return None
    chunk = payload[:_HEADER_B64_CHARS]
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        return binascii.a2b_base64(chunk)
    except (binascii.Error, ValueError):
        return None


def first_image_bytes(body: Mapping[str, Any]) -> bytes | None:
    """The start of the request's first inline input image (enough for its header), or ``None``.

    Looks at the last OpenAI message's ``image_url`` parts, then the deprecated
    top-level ``image`` data URI, then the last Gemini ``contents`` item's
    ``inlineData``; only inline (data URI / base64) images count.
    """
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], Mapping):
        content = messages[-1].get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
                if isinstance(url, str) and url.startswith("data:"):
                    return _data_uri_header(url)
    if isinstance(body.get("image"), str) and body["image"].startswith("data:"):
        return _data_uri_header(body["image"])
    contents = body.get("contents")
    if isinstance(contents, list) and contents and isinstance(contents[-1], Mapping):
        parts = contents[-1].get("parts")
        for part in parts if isinstance(parts, list) else ():
            inline = _dict(_dict(part).get("inlineData") or _dict(part).get("inline_data"))
            if isinstance(inline.get("data"), str):
                return _data_uri_header(f"data:;base64,{inline['data']}")
    return None


def request_hints(catalog: Catalog, model: str, body: Mapping[str, Any]) -> ResolveHints | None:
    """The hints for resolving ``model`` from a JSON ``body``: ``None`` unless it is an enabled alias; image dims only when they matter."""
    alias = catalog.alias(model)
    if alias is None:
        return None
    hints = hints_from_body(body)
    if alias.wants_image_dims(hints):
        data = first_image_bytes(body)
        if data is not None:
            hints = hints_from_image(data, hints)
    return hints


def resolve_entry(request: web.Request, model: str, hints: ResolveHints | None) -> CatalogEntry:
    """Resolve ``model`` with ``hints`` against the current catalog; sets ``state.catalog`` and ``state.entry``.

    Raises ``ModelNotFoundError`` (404) for an unknown or disabled model (or
    alias target), ``ProviderUnavailableError`` (503) when no installed
    provider serves it. The snapshot read here is the one the request keeps.
    """
    state = request[STATE]
    state.catalog = request.config_dict[CATALOG].current
    state.entry = entry = state.catalog.resolve(model, hints)
    if hints is not None:
        log.debug("alias %s resolved to %s (%s)", model, entry.id, hints)
    if not entry.available:
        missing = ", ".join(f"'{p}'" for p in entry.missing_providers)
        raise ProviderUnavailableError(
            f"The model '{entry.id}' is unavailable: its provider {missing} is not installed on this server."
        )
    return entry


@web.middleware
async def route_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Set ``state.body``, ``state.catalog`` and ``state.entry``.

    Errors: 400 ``invalid_request`` for a bad body or a missing model, 413 for
    an oversized body, 404 ``model_not_found`` for an unknown or disabled
    model (or alias target), 503 ``provider_unavailable`` when no installed
    provider serves the model.
    """
    source = generation_source(request)
    if source is None:
        return await handler(request)
    state = request[STATE]
    if source == "path":
        state.body = await read_json_object(request, allow_empty=True)
        model = request.match_info["model"]
    else:
        state.body = await read_json_object(request)
        model = state.body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("You must provide a model parameter.", param="model")
    resolve_entry(request, model, request_hints(request.config_dict[CATALOG].current, model, state.body))
    return await handler(request)
