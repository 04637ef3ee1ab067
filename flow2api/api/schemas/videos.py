"""The OpenAI Videos API create request (OpenAI API reference "Videos: create"), as flow2api reads it.

Typed: ``model`` and ``prompt`` (required), ``seconds`` (a whole number as a
string, as the SDK sends it, or an integer; it must match a model with a fixed
duration), ``size`` (one of the model's sizes,
:mod:`flow2api.api.schemas.sizes`), ``input_reference`` (an image URL or data
URI, ``{"image_url"}``, or in multipart an uploaded file or the flattened
``input_reference[image_url]``; ``file_id`` is refused), and the resolver hints
of :class:`~flow2api.api.schemas.base.HintFields`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import Field, field_validator

from flow2api.api.schemas.base import HintFields, check_prompt, data_uri_header
from flow2api.api.schemas.images import ImageReference
from flow2api.api.schemas.sizes import check_size
from flow2api.catalog import CatalogEntry
from flow2api.discovery import PROVIDERS
from flow2api.errors import InvalidRequestError
from flow2api.plugin import Kind, Provider
from flow2api.settings import Settings

PARAM = "input_reference"


def capabilities(providers: Mapping[str, Provider], entry: CatalogEntry) -> dict[str, Any]:
    """The first installed route's ``describe`` of ``entry`` (``{}`` when none)."""
    for route in entry.routes:
        provider = providers.get(route.provider)
        if provider is not None and route.options is not None:
            return provider.describe(route.options)
    return {}


class VideoCreateRequest(HintFields):
    """``POST /v1/videos`` (JSON or multipart); see the module docstring."""

    kind = Kind.VIDEO
    forms = True

    model: str = Field(min_length=1)
    prompt: str
    seconds: str | int | None = None
    size: str | None = None
    input_reference: ImageReference | str | None = None

    @field_validator("seconds")
    @classmethod
    def _whole_seconds(cls, value: str | int | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"\d{1,3}", str(value)):
            raise ValueError('must be a whole number of seconds, e.g. "8"')
        return str(int(value))

    @classmethod
    def from_form(cls, form: Any, max_bytes: int) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """Text fields; an ``input_reference`` file as the upload; ``input_reference[image_url|file_id]`` (how the
        SDK flattens the reference object) back into an object."""
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str) and not k.startswith(PARAM)}
        uploads: list[tuple[str, bytes]] = []
        for value in form.getall(PARAM, []):
            if isinstance(value, web.FileField):
                uploads.append((PARAM, value.file.read(max_bytes + 1)))
            elif value:
                fields[PARAM] = value
        reference = {k: form[f"{PARAM}[{k}]"] for k in ("image_url", "file_id") if form.get(f"{PARAM}[{k}]")}
        if reference:
            fields[PARAM] = reference
        return fields, uploads

    def check(self, settings: Settings) -> None:
        """No ``file_id``; the prompt within ``[generation] max_prompt_chars``."""
        if isinstance(self.input_reference, ImageReference) and not self.input_reference.image_url:
            raise InvalidRequestError(
                "input_reference.file_id is not supported: send the image itself (file upload, URL or data URI).",
                param=PARAM)
        check_prompt(self.prompt, settings, "prompt")

    def check_resolved(self, request: web.Request, requested: str, entry: CatalogEntry) -> None:
        """``size`` from the model's list; ``seconds`` equal to a fixed duration."""
        check_size(request, requested, entry, self.size)
        fixed = capabilities(request.config_dict[PROVIDERS], entry).get("duration_seconds")
        if self.seconds is not None and fixed and int(self.seconds) != int(fixed):
            raise InvalidRequestError(
                f"The model '{entry.id}' makes {fixed}-second videos; pick a model for {self.seconds} s or omit "
                "'seconds'.", param="seconds")

    def url(self) -> str | None:
        """The reference image's URL or data URI, if one was given that way."""
        ref = self.input_reference
        return ref.image_url if isinstance(ref, ImageReference) else ref

    def uploads(self) -> list[tuple[str, bytes]]:
        """The uploaded reference file(s) as ``(param, bytes)``."""
        return list(self._uploads)

    def image_header(self) -> bytes | None:
        """The uploaded file's bytes, else the data URI's start."""
        if self._uploads:
            return self._uploads[0][1]
        url = self.url()
        return data_uri_header(url) if url and url.startswith("data:") else None

    def summary(self) -> Any:
        """The request as stored, each upload replaced by a reference."""
        summary = super().summary()
        if self._uploads:
            summary[PARAM] = [f"<upload, {len(data)} bytes>" for _, data in self._uploads]
        return summary
