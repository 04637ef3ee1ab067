"""Media types: sniffing MIME types from magic bytes, and file extensions for them."""

from __future__ import annotations

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "image/jp2"),
    (b"ftypqt  ", 4, "video/quicktime"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),  # EBML header: WebM (and Matroska, which Flow does not take)
)

EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp", "image/bmp": ".bmp",
    "image/jp2": ".jp2", "video/mp4": ".mp4", "video/webm": ".webm",
    "video/quicktime": ".mov",
}
MIME_BY_EXTENSION = {ext: mime for mime, ext in EXTENSIONS.items()}


def sniff_mime(data: bytes) -> str | None:
    """The MIME type the first bytes of ``data`` announce (PNG, JPEG, GIF, WebP, BMP, JPEG 2000, MP4, QuickTime,
    WebM), else ``None``."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, offset, mime in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return mime
    return None


def extension_for(mime_type: str | None) -> str:
    """The file extension (with dot) for a MIME type; ``.bin`` for unknown ones."""
    return EXTENSIONS.get((mime_type or "").split(";")[0].strip().lower(), ".bin")
