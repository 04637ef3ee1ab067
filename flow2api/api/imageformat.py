"""Re-encoding a generated image into the ``output_format`` an Images API client asked for (Pillow).

OpenAI's Images API (gpt-image-1) takes ``output_format`` ``png`` | ``jpeg`` |
``webp`` and ``output_compression`` 0–100 (for ``jpeg``/``webp``; default 100).
Flow returns PNG or JPEG depending on the model, so the cached result is
converted when its type differs (or a compression is asked for), in a worker
thread (decoding a 4K image takes tens of milliseconds). ``output_compression``
becomes Pillow's ``quality`` (100 = best), as LiteLLM passes it through; for
``png`` it is ignored (PNG is lossless). JPEG has no alpha channel, so such
images are flattened to RGB first.
"""

from __future__ import annotations

import asyncio
import io

FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
"""``output_format`` → (Pillow format name, MIME type)."""


def needs_conversion(mime_type: str, output_format: str | None, compression: int | None) -> bool:
    """Whether a result of ``mime_type`` must be re-encoded for ``output_format`` / ``compression``."""
    if output_format is None:
        return False
    lossy = output_format in ("jpeg", "webp") and compression is not None
    return FORMATS[output_format][1] != mime_type or lossy


def _encode(data: bytes, output_format: str, compression: int | None) -> bytes:
    from PIL import Image  # imported lazily: only requests with output_format need it

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if output_format == "jpeg" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        out = io.BytesIO()
        options = {"quality": compression} if output_format in ("jpeg", "webp") and compression is not None else {}
        image.save(out, format=FORMATS[output_format][0], **options)
        return out.getvalue()


async def convert(data: bytes, output_format: str, compression: int | None = None) -> tuple[bytes, str]:
    """``data`` (any image Pillow reads) encoded as ``output_format``; returns the bytes and their MIME type."""
    return await asyncio.to_thread(_encode, data, output_format, compression), FORMATS[output_format][1]
