"""Reading video files with PyAV (FFmpeg's libraries, the ``av`` package): a clip's first frame and its shape.

Used by the Videos API for ``GET /v1/videos/{id}/content?variant=thumbnail``
(a JPEG of the first frame: flow.google.com's own thumbnails are ``/asb/<token>``
WebP URLs whose token no RPC record we parse carries, spec §6.5, and labs
publishes none) and to read an uploaded source video's size and length before
choosing an edit model. Decoding runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

from flow2api.errors import InvalidRequestError

JPEG_QUALITY = 85


@dataclass(frozen=True, slots=True)
class VideoShape:
    """A video stream's frame size in pixels and its length in seconds (``None`` when the container omits it)."""

    width: int
    height: int
    seconds: float | None

    @property
    def portrait(self) -> bool:
        """Taller than wide."""
        return self.height > self.width


def _open(source: Path | bytes):  # type: ignore[no-untyped-def]
    import av  # imported lazily: only thumbnails and video uploads need FFmpeg

    return av.open(str(source) if isinstance(source, Path) else io.BytesIO(source))


def _first_frame_jpeg(video: Path | bytes) -> bytes:
    import av

    try:
        with _open(video) as container:
            frame = next(container.decode(video=0))
            out = io.BytesIO()
            frame.to_image().convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
            return out.getvalue()
    except (av.FFmpegError, StopIteration, IndexError) as exc:
        raise InvalidRequestError("The video file has no frame that could be decoded for a thumbnail.",
                                  param="variant") from exc


def _shape(data: bytes) -> VideoShape:
    import av

    try:
        with _open(data) as container:
            stream = container.streams.video[0]
            seconds = None
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / av.time_base
            return VideoShape(stream.codec_context.width, stream.codec_context.height, seconds)
    except (av.FFmpegError, IndexError) as exc:
        raise InvalidRequestError("The uploaded video could not be read (send an MP4, MOV or WebM file).",
                                  param="video") from exc


async def first_frame_jpeg(video: Path | bytes) -> bytes:
    """The first decodable frame of ``video`` (a file or its bytes) as JPEG bytes; 400 (``param`` variant) when none
    decodes."""
    return await asyncio.to_thread(_first_frame_jpeg, video)


async def video_shape(data: bytes) -> VideoShape:
    """Width, height and length of the first video stream in ``data``; 400 (``param`` video) when unreadable."""
    return await asyncio.to_thread(_shape, data)
