"""The OpenAI Images API requests (OpenAI API reference "Images": create, create edit), as flow2api reads them.

Typed: ``model`` and ``prompt`` (required), ``n`` (integer 1–10), ``size`` (one
of the model's sizes, :mod:`flow2api.api.schemas.sizes`), ``quality`` (``auto``,
``standard``, ``hd``, ``low``, ``medium``, ``high``, and ``ultra`` from the
original project), ``response_format`` (``url``|``b64_json``), ``style``
(``vivid``|``natural``, ignored), ``user``, ``stream`` (boolean: the event
stream of :mod:`flow2api.api.imagestream`), ``partial_images`` (0–3), the
fields of gpt-image-1 — ``output_format`` (``png``|``jpeg``|``webp``, converted with
Pillow, :mod:`flow2api.api.imageformat`), ``output_compression`` (0–100),
``background`` (``auto``|``opaque``; ``transparent`` is refused: no Flow model
renders alpha), ``moderation`` (``auto``|``low``, accepted) — and the resolver
hints of :class:`~flow2api.api.schemas.base.HintFields`.

Edits take their images as multipart ``image`` / ``image[]`` files (or URL
strings), or in JSON as ``images: [{"image_url"}]`` (a bare URL string too) and
``image``; ``file_id`` and ``mask`` are refused (Flow has no uploads by id and
no masked editing).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from flow2api.api.schemas.base import HintFields, Loose, check_prompt, data_uri_header
from flow2api.api.schemas.sizes import check_size
from flow2api.catalog import CatalogEntry
from flow2api.errors import InvalidRequestError
from flow2api.plugin import Kind
from flow2api.settings import Settings

MAX_N = 10
IMAGE_FIELDS = ("image", "image[]")


class ImageGenerationRequest(HintFields):
    """``POST /v1/images/generations``; see the module docstring."""

    kind = Kind.IMAGE

    model: str = Field(min_length=1)
    prompt: str
    n: int | None = Field(None, ge=1, le=MAX_N)
    size: str | None = None
    quality: Literal["auto", "standard", "hd", "low", "medium", "high", "ultra"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    style: Literal["vivid", "natural"] | None = None
    user: str | None = None
    stream: bool | None = None
    partial_images: int | None = Field(None, ge=0, le=3)
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(None, ge=0, le=100)
    background: Literal["auto", "opaque", "transparent"] | None = None
    moderation: Literal["auto", "low"] | None = None

    def check(self, settings: Settings) -> None:
        """The prompt is not empty and within ``[generation] max_prompt_chars``."""
        check_prompt(self.prompt, settings, "prompt")

    def check_resolved(self, request: web.Request, requested: str, entry: CatalogEntry) -> None:
        """``size`` is one of the model's sizes; no transparent background (no Flow image model renders alpha)."""
        check_size(request, requested, entry, self.size)
        if self.background == "transparent":
            raise InvalidRequestError(
                f"The model '{requested}' cannot make transparent backgrounds: Flow's image models render opaque "
                "images. Send background 'auto' or 'opaque'.", param="background")

    @property
    def count(self) -> int:
        """``n``, default 1."""
        return self.n or 1


class ImageReference(Loose):
    """``{"image_url": …}`` or ``{"file_id": …}`` (refused)."""

    image_url: str | None = None
    file_id: str | None = None


class ImageEditRequest(ImageGenerationRequest):
    """``POST /v1/images/edits`` (multipart or JSON); see the module docstring."""

    forms = True

    images: list[ImageReference | str] | None = None
    image: str | None = None
    mask: Any = None

    @classmethod
    def from_form(cls, form: Any, max_bytes: int) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """Text fields; ``image``/``image[]`` files as uploads (read up to ``max_bytes`` + 1), strings as URLs."""
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str) and k not in IMAGE_FIELDS}
        uploads: list[tuple[str, bytes]] = []
        urls: list[str] = []
        for name in IMAGE_FIELDS:
            for value in form.getall(name, []):
                if isinstance(value, web.FileField):
                    uploads.append((name, value.file.read(max_bytes + 1)))
                elif value:
                    urls.append(value)
        if urls:
            fields["images"] = urls
        if "mask" in form:
            fields["mask"] = "<upload>"
        return fields, uploads

    def check(self, settings: Settings) -> None:
        """No ``mask``, no ``file_id``, at least one image; the prompt as for generations."""
        if self.mask is not None and self.mask != "":
            raise InvalidRequestError(
                "Masked edits are not supported: Flow edits the whole image from the prompt. Send the request "
                "without 'mask'.", param="mask")
        for i, item in enumerate(self.images or ()):
            if isinstance(item, ImageReference) and not item.image_url:
                raise InvalidRequestError(
                    "images[] items need an image_url (file_id is not supported: send the image itself).",
                    param=f"images[{i}]")
        if not self._uploads and not self.urls():
            raise InvalidRequestError("You must provide at least one image to edit ('image').", param="image")
        super().check(settings)

    def urls(self) -> list[tuple[str, str]]:
        """The image URLs with the ``param`` each came from: ``images[i]`` in order, then ``image``."""
        given = [(item if isinstance(item, str) else item.image_url or "", f"images[{i}]")
                 for i, item in enumerate(self.images or ())]
        if self.image:
            given.append((self.image, "image"))
        return given

    def uploads(self) -> list[tuple[str, bytes]]:
        """The uploaded files as ``(param, bytes)``, in form order."""
        return list(self._uploads)

    def image_header(self) -> bytes | None:
        """The first uploaded file's bytes, else the first data-URI image's start."""
        if self._uploads:
            return self._uploads[0][1]
        first = next((url for url, _ in self.urls() if url.startswith("data:")), None)
        return data_uri_header(first) if first else None

    def summary(self) -> Any:
        """As for generations, with each upload replaced by a reference."""
        summary = super().summary()
        if self._uploads:
            summary["image"] = [f"<upload, {len(data)} bytes>" for _, data in self._uploads]
        return summary
