"""Stage 5, route: parse the body once and resolve the model against the current catalog.

Only handlers marked with :func:`generation` go through this stage (and the
lease and proxy stages after it); listing models or reading a video job does not.
The catalog snapshot read here is the one the request keeps, even if the file
is reloaded while it runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web

from flow2api.errors import InvalidRequestError, PayloadTooLargeError
from flow2api.keys import CATALOG, STATE

ModelSource = Literal["json", "path"]
_MARK = "__flow2api_generation__"


def generation(model_source: ModelSource = "json") -> Callable[[Any], Any]:
    """Mark a handler as a generation endpoint: it gets a parsed body, a catalog entry, a leased account.

    ``model_source`` says where the model id is: the JSON body's ``model``
    field, or the URL's ``{model}`` part (Gemini).
    """

    def mark(handler: Any) -> Any:
        setattr(handler, _MARK, model_source)
        return handler

    return mark


def generation_source(request: web.Request) -> ModelSource | None:
    """The :func:`generation` mark of the request's route handler, or ``None`` for other handlers."""
    return getattr(request.match_info.handler, _MARK, None)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 for bad JSON or a non-object, 413 past the size limit."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError("The request body is larger than the server accepts") from None
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. Send a JSON object with Content-Type: application/json."
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


@web.middleware
async def route_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Set ``state.body``, ``state.catalog`` and ``state.entry``; 400/404 for a missing or unknown model."""
    source = generation_source(request)
    if source is None:
        return await handler(request)
    state = request[STATE]
    if source == "json":
        state.body = await read_json_object(request)
        model = state.body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("You must provide a model parameter.", param="model")
    else:
        model = request.match_info["model"]
    state.catalog = request.config_dict[CATALOG].current
    state.entry = state.catalog.resolve(model)
    return await handler(request)
