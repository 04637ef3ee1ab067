"""Media bytes both Flow emulators serve: generated images (Pillow), upload inspection, the bundled MP4s.

* `fit_long_edge` sizes an image from its aspect ratio and long edge (each emulator keeps its own
  aspect enum → ratio table: labs.google names, flow.google.com integers).
* `render_png` / `render_jpeg` draw a deterministic picture from (prompt, seed, model, tint):
  a gradient, a few shapes and the prompt text, so different prompts give different images and
  the same request gives the same bytes. Rendered bytes are cached (LRU), never stored.
* `sniff_mime` reads magic bytes; `inspect_upload` decodes an upload for its size and mean colour.
* `video_asset` returns one of the two real H.264 MP4s shipped in ``assets/`` (2 s, 160x90 /
  90x160, generated once with ffmpeg's testsrc2; ffmpeg is not needed at run time; installed as
  package data of ``flow2api-flowkit``).
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
from functools import lru_cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageStat, features

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fit_long_edge(ratio: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """Pixel ``(width, height)`` of an image of ``ratio`` (width, height) whose long edge is ``long_edge`` pixels."""
    w, h = ratio
    if w >= h:
        return long_edge, max(1, round(long_edge * h / w))
    return max(1, round(long_edge * w / h)), long_edge


def _palette(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _draw(prompt: str, seed: int, model: str, width: int, height: int,
          tint: tuple[int, int, int] | None) -> Image.Image:
    digest = hashlib.sha256(f"{model}\x00{seed}\x00{prompt}".encode()).digest()
    rng = random.Random(digest)
    gradient = Image.linear_gradient("L").resize((width, height))
    image = ImageOps.colorize(gradient, _palette(rng), _palette(rng)).convert("RGB")
    draw = ImageDraw.Draw(image)
    scale = max(width, height)
    for _ in range(rng.randint(4, 9)):
        x, y = rng.random() * width, rng.random() * height
        r = scale * (0.05 + rng.random() * 0.2)
        box = (x - r, y - r, x + r, y + r)
        (draw.ellipse if rng.random() < 0.6 else draw.rectangle)(box, fill=_palette(rng))
    if tint is not None:
        image = Image.blend(image, Image.new("RGB", image.size, tint), 0.35)
        draw = ImageDraw.Draw(image)
    size = max(10, min(width, height) // 12)
    text = caption(prompt, max(8, int(width / (size * 0.6))))
    draw.multiline_text((max(2, width // 40), max(2, height // 40)), text, fill=(255, 255, 255),
                        font=_font(size), stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return image


def caption(prompt: str, columns: int, lines: int = 3) -> str:
    """The first ``lines`` lines of ``prompt`` wrapped at ``columns`` characters, joined by newlines.

    Only a prefix of ``lines * columns * 4`` characters is wrapped: the picture shows three lines,
    and ``textwrap`` splits a long unbroken word one line at a time, copying the rest each time
    (quadratic: a 4 MB prompt took 5.6 s on the emulator's event loop, issue 18 finding 6).
    """
    return "\n".join(textwrap.wrap(prompt[:lines * columns * 4], width=columns)[:lines])


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font scales only with FreeType; without it the bitmap default is fine.
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


@lru_cache(maxsize=64)
def render_png(prompt: str, seed: int, model: str, width: int, height: int,
               tint: tuple[int, int, int] | None = None) -> bytes:
    """PNG bytes of the picture for these parameters (``width`` x ``height``)."""
    buffer = io.BytesIO()
    _draw(prompt, seed, model, width, height, tint).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def render_jpeg(prompt: str, seed: int, model: str, width: int, height: int,
                tint: tuple[int, int, int] | None = None) -> bytes:
    """JPEG bytes of the same picture at another size (image upsample, spec §2.7)."""
    buffer = io.BytesIO()
    _draw(prompt, seed, model, width, height, tint).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def sniff_mime(data: bytes) -> str | None:
    """MIME type from magic bytes, for the formats Flow uploads accept (spec §2.5)."""
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:2] == b"BM":
        return "image/bmp"
    if data.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or data.startswith(b"\xff\x4f\xff\x51"):
        return "image/jp2"
    return None


def inspect_upload(data: bytes, mime_type: str) -> tuple[int, int, tuple[int, int, int]]:
    """(width, height, mean RGB) of an uploaded image. Raises ValueError if it does not decode."""
    if mime_type == "image/jp2" and not features.check("jpg_2000"):
        return 0, 0, (128, 128, 128)  # cannot decode here; the magic bytes were right
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            thumb = image.convert("RGB").resize((8, 8))
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise ValueError(f"cannot decode {mime_type} image: {exc}") from exc
    mean = ImageStat.Stat(thumb).mean
    return width, height, (int(mean[0]), int(mean[1]), int(mean[2]))


def mean_color(tints: list[tuple[int, int, int]]) -> tuple[int, int, int] | None:
    """Average of the input images' colours (image-to-image tint), None without inputs."""
    if not tints:
        return None
    return tuple(sum(c[i] for c in tints) // len(tints) for i in range(3))  # type: ignore[return-value]


@lru_cache(maxsize=2)
def video_asset(portrait: bool) -> bytes:
    """The bundled MP4: 90x160 when ``portrait``, else 160x90 (landscape)."""
    name = "portrait.mp4" if portrait else "landscape.mp4"
    return resources.files(__package__).joinpath("assets", name).read_bytes()
