"""The storyboard download: a ZIP streamed while it is sent (zipstream-ng); the archive itself is never assembled.

Members, in order: ``NN-<slug>.<ext>`` — one image per exported scene, ``NN`` its 1-based number and the
slug its title (``03-the-storm-comes.png``), and ``NN-<slug>.mp4`` — its clip when it has a finished one,
stored uncompressed (images and videos are compressed already), each read from the media store (directory
or S3) before the ZIP starts; ``storyboard.json`` — the storyboard object with each ``image_url`` and clip
``video_url`` replaced by the member's file name (``null`` for what is not exported); ``index.html`` — a
contact sheet (scenes in order, image, clip and narration) that opens offline, from the folder the ZIP
was unpacked into.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator

import jinja2
from zipstream import ZIP_STORED, ZipStream

from flow2api_storyboard.model import Scene, Storyboard, slug

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif", "video/mp4": "mp4",
              "video/webm": "webm"}
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("flow2api_storyboard", "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters["when"] = lambda at: datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def member_name(scene: Scene, *, clip: bool = False) -> str:
    """``NN-<slug>.<ext>`` of a scene's image, or of its clip (``.mp4``)."""
    mime, default = (scene.clip.mime_type if scene.clip else None, "mp4") if clip else (scene.mime_type, "png")
    return f"{scene.index + 1:02d}-{slug(scene.title)}.{EXTENSIONS.get(mime or '', default)}"


def contact_sheet(board: Storyboard, files: dict[int, str], clips: dict[int, str] | None = None) -> str:
    """``index.html``: every scene in order with its narration and, when exported, its image and clip (relative
    links)."""
    return TEMPLATES.get_template("contact_sheet.html").render(board=board, files=files, clips=clips or {})


def build_zip(board: Storyboard, images: dict[int, bytes], clips: dict[int, bytes] | None = None) -> ZipStream:
    """The ZIP of ``board`` with ``images`` and ``clips`` (scene index → the file's bytes, read from the media
    store); a scene's clip follows its image."""
    clips = clips or {}
    stream = ZipStream(compress_type=ZIP_STORED, sized=False)
    files = {index: member_name(board.scenes[index]) for index in images}
    videos = {index: member_name(board.scenes[index], clip=True) for index in clips}
    for index, data in sorted(images.items()):
        stream.add(data, files[index])
        if index in clips:
            stream.add(clips[index], videos[index])
    public = board.public(lambda name: name)
    for scene in public["scenes"]:
        scene["image_url"] = files.get(scene["index"])
        if scene["clip"] is not None:
            scene["clip"]["video_url"] = videos.get(scene["index"])
    stream.add(json.dumps(public, indent=2, ensure_ascii=False).encode(), "storyboard.json")
    stream.add(contact_sheet(board, files, videos).encode(), "index.html")
    return stream


async def chunks(stream: ZipStream) -> AsyncIterator[bytes]:
    """The ZIP's bytes, each chunk produced in a worker thread (it reads the image files)."""
    iterator = iter(stream)
    while True:
        chunk = await asyncio.to_thread(next, iterator, None)
        if chunk is None:
            return
        yield chunk
