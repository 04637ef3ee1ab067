"""Stage 5, route: parse the body once into the surface's typed request and resolve the model.

Only handlers marked with :func:`generation` go through this stage (and the
token selection and proxy routing stages after it); listing models or reading a
video job does not. The mark names the handler's request model (a
:class:`SurfaceRequest`, defined per surface in :mod:`flow2api.api.schemas`):
the stage has it read and validate the body (JSON, or a multipart form where
the surface takes one), stores it as ``state.request``, and resolves the model
id against the current catalog. Handlers read ``state.request``; nothing parses
the body a second time. The catalog snapshot read here is the one the request
keeps, even if the file is reloaded while it runs.

When the model is a resolver alias (spec §4.4), the request's hints
(:meth:`SurfaceRequest.hints`) choose the concrete model here, before an account
is leased for it (a 4K variant needs another tier than the 1K one); when the
alias could still go either way, the first inline input image's pixel size
(:meth:`SurfaceRequest.image_header`) decides. Input images given as ``http(s)``
URLs are not fetched here: such a request resolves from its other hints or the
alias's default.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from aiohttp import web

from flow2api.catalog import CATALOG, Catalog, CatalogEntry, ResolveHints, hints_from_image
from flow2api.errors import InvalidRequestError, PayloadTooLargeError, ProviderUnavailableError
from flow2api.plugin import Kind
from flow2api.request_state import STATE

log = logging.getLogger(__name__)

_MARK = "__flow2api_generation__"
# No request field needs more digits; Python refuses to convert past 4,300 anyway (a ValueError, once a 500).
MAX_INT_DIGITS = 64


class SurfaceRequest(Protocol):
    """What the route stage needs of a surface's typed request model (see :mod:`flow2api.api.schemas`).

    ``model_in_path``: the model id is the URL's ``{model}`` (Gemini), else the
    body's ``model`` field; ``kind``: the kind of model the surface makes
    (``None``: any). ``read`` parses and validates the body (400 naming the
    field, 413 past a size limit); ``hints`` and ``image_header`` feed alias
    resolution; ``check_resolved`` checks what depends on the resolved model
    (sizes from the model's list, fixed durations).
    """

    model_in_path: ClassVar[bool]
    kind: ClassVar[Kind | None]
    model: str

    @classmethod
    async def read(cls, request: web.Request) -> SurfaceRequest:
        """The request's body parsed and validated as this model."""
        ...

    def hints(self) -> ResolveHints:
        """The resolver hints the request carries (without input image dims)."""
        ...

    def image_header(self) -> bytes | None:
        """The start of the first inline input image (enough for its header), or ``None``."""
        ...

    def check_resolved(self, request: web.Request, requested: str, entry: CatalogEntry) -> None:
        """Raise ``InvalidRequestError`` for what the resolved ``entry`` cannot do (``requested`` as sent)."""
        ...


def generation(schema: type[Any]) -> Callable[[Any], Any]:
    """Mark a handler as a generation endpoint whose body is a ``schema`` (a :class:`SurfaceRequest` class):
    it gets ``state.request``, a catalog entry, an account selection and proxy routing."""

    def mark(handler: Any) -> Any:
        setattr(handler, _MARK, schema)
        return handler

    return mark


def generation_schema(request: web.Request) -> type[SurfaceRequest] | None:
    """The request model named by the :func:`generation` mark of the route's handler, or ``None``."""
    return getattr(request.match_info.handler, _MARK, None)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InvalidRequestError(f"A number in the JSON body has more than {MAX_INT_DIGITS} digits.")
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise InvalidRequestError(f"'{name}' is not valid JSON (JSON has no NaN or Infinity).")


def loads_json(raw: bytes | bytearray | str) -> Any:
    """Parse JSON text safely: 400 ``InvalidRequestError`` for bad JSON, nesting too deep, integers longer than
    :data:`MAX_INT_DIGITS` digits and the non-standard ``NaN``/``Infinity`` (never a ``ValueError`` → 500)."""
    try:
        return json.loads(raw, parse_int=_parse_int, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. Send a JSON object with Content-Type: application/json."
        ) from None


async def read_body(request: web.Request) -> bytearray:
    """The request body, read once into one buffer that only the caller holds; 413 ``PayloadTooLargeError``
    past the app's ``client_max_size`` (``[server] max_body_bytes``).

    Not ``request.read()``: aiohttp keeps the bytes that returns for the request's whole life (a 25 MB
    data-URI body stayed alive through the minutes of its generation, beside its parsed copy).
    """
    limit = request.client_max_size
    size = request.content_length
    if size is not None and size > limit:
        raise PayloadTooLargeError("The request body is larger than the server accepts")
    body = bytearray(size or 0)  # the known size at once: no re-allocations while it fills
    filled = 0
    async for chunk in request.content.iter_any():
        if filled + len(chunk) > len(body):
            if filled + len(chunk) > limit:
                raise PayloadTooLargeError("The request body is larger than the server accepts")
            body[filled:] = chunk
        else:
            body[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    del body[filled:]
    return body


async def read_json_object(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (:func:`loads_json`); 400 for bad JSON, unpaired surrogates or a
    non-object, 413 past the size limit.

    ``allow_empty`` turns an empty body into ``{}`` (Gemini paths carry the model in the URL).
    """
    raw = await read_body(request)
    if allow_empty and not raw.strip():
        return {}
    body = loads_json(raw)
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


def request_hints(catalog: Catalog, model: str, parsed: SurfaceRequest) -> ResolveHints | None:
    """The hints for resolving ``model``: ``None`` unless it is an enabled alias; image dims only when they matter."""
    alias = catalog.alias(model)
    if alias is None:
        return None
    hints = parsed.hints()
    if alias.wants_image_dims(hints):
        data = parsed.image_header()
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
    """Set ``state.request`` (the typed body), ``state.catalog`` and ``state.entry``.

    Errors: 400 ``invalid_request`` for a bad body (``param`` names the field),
    a missing model, or a model of the wrong kind for the surface; 413 for an
    oversized body; 404 ``model_not_found`` for an unknown or disabled model (or
    alias target); 503 ``provider_unavailable`` when no installed provider serves
    the model.
    """
    schema = generation_schema(request)
    if schema is None:
        return await handler(request)
    state = request[STATE]
    state.request = parsed = await schema.read(request)
    model = request.match_info["model"] if schema.model_in_path else parsed.model
    entry = resolve_entry(request, model, request_hints(request.config_dict[CATALOG].current, model, parsed))
    if schema.kind is not None and entry.kind is not schema.kind:
        raise InvalidRequestError(
            f"The model '{entry.id}' makes {entry.kind.value}s, not {schema.kind.value}s; pick a {schema.kind.value} "
            "model for this endpoint.", param="model",
        )
    parsed.check_resolved(request, model, entry)
    return await handler(request)
