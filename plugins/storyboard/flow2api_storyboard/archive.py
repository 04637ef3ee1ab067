"""The storyboard download: a ZIP streamed while it is sent (zipstream-ng); the archive itself is never assembled.

Members, in order: ``NN-<slug>.<ext>`` — one image per exported scene, ``NN`` its 1-based number and the
slug its title (``03-the-storm-comes.png``), stored uncompressed (images are compressed already), each read
from the media store (directory or S3) before the ZIP starts; ``storyboard.json`` — the storyboard object with each ``image_url``
replaced by the member's file name (``null`` for scenes not exported); ``index.html`` — a contact sheet
(scenes in order, image and narration) that opens offline, from the folder the ZIP was unpacked into.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator

import jinja2
from zipstream import ZIP_STORED, ZipStream

from flow2api_storyboard.model import Scene, Storyboard, slug

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("flow2api_storyboard", "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters["when"] = lambda at: datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def member_name(scene: Scene) -> str:
    """``NN-<slug>.<ext>`` of a scene's image."""
    return f"{scene.index + 1:02d}-{slug(scene.title)}.{EXTENSIONS.get(scene.mime_type or '', 'png')}"


def contact_sheet(board: Storyboard, files: dict[int, str]) -> str:
    """``index.html``: every scene in order with its narration and, when exported, its image (relative link)."""
    return TEMPLATES.get_template("contact_sheet.html").render(board=board, files=files)


def build_zip(board: Storyboard, images: dict[int, bytes]) -> ZipStream:
    """The ZIP of ``board`` with ``images`` (scene index → the image's bytes, read from the media store)."""
    stream = ZipStream(compress_type=ZIP_STORED, sized=False)
    files = {index: member_name(board.scenes[index]) for index in images}
    for index, data in sorted(images.items()):
        stream.add(data, files[index])
    public = board.public(lambda name: name)
    for scene in public["scenes"]:
        scene["image_url"] = files.get(scene["index"])
    stream.add(json.dumps(public, indent=2, ensure_ascii=False).encode(), "storyboard.json")
    stream.add(contact_sheet(board, files).encode(), "index.html")
    return stream


async def chunks(stream: ZipStream) -> AsyncIterator[bytes]:
    """The ZIP's bytes, each chunk produced in a worker thread (it reads the image files)."""
    iterator = iter(stream)
    while True:
        chunk = await asyncio.to_thread(next, iterator, None)
        if chunk is None:
            return
        yield chunk
