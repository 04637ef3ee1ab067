"""The storyboard download: a ZIP streamed while it is sent (zipstream-ng); neither the archive nor any file in it is
ever held whole in memory.

Members, in order: ``NN-<slug>.<ext>`` — one image per exported scene, ``NN`` its 1-based number and the
slug its title (``03-the-storm-comes.png``), and ``NN-<slug>.mp4`` — its clip when it has a finished one,
stored uncompressed (images and videos are compressed already); ``storyboard.json`` — the storyboard object
with each ``image_url`` and clip ``video_url`` replaced by the member's file name (``null`` for what is not
exported); ``index.html`` — a contact sheet (scenes in order, image, clip and narration) that opens offline,
from the folder the ZIP was unpacked into.

Every image and clip is opened in the media store (``ImageJobs.open_media``: its size and existence, a ``stat``
or an S3 ``HeadObject``) before the ZIP starts, so ``storyboard.json`` and ``index.html`` name only files that
exist; its bytes are read in 256 KiB chunks while its member is written (:func:`open_members`). zipstream-ng
1.9 takes blocking iterables only, so the ZIP is made in a thread of the download's own and each member's
chunks are pulled from the event loop into it (:class:`_Pull`); memory per download stays at a few chunks
whatever the file sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import jinja2
from zipstream import ZIP_STORED, ZipStream

from flow2api.plugin import ImageJobs, MediaChunks
from flow2api_storyboard.model import APPROVED, DONE, Scene, Storyboard, slug

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


async def open_members(jobs: ImageJobs, board: Storyboard, opened: contextlib.AsyncExitStack, *,
                       everything: bool) -> tuple[dict[int, MediaChunks], dict[int, MediaChunks]]:
    """The images (approved scenes, or every scene with one when ``everything``) and their clips still in the media
    store, opened for reading (scene index → :class:`MediaChunks`; nothing read yet), each closed by ``opened``.

    A scene whose image has left the store is not exported; nor a clip gone from it. ``OSError`` when the store
    fails.
    """
    wanted = (DONE, APPROVED) if everything else (APPROVED,)
    images: dict[int, MediaChunks] = {}
    clips: dict[int, MediaChunks] = {}
    for scene in board.scenes:
        image = await jobs.open_media(scene.image) if scene.image and scene.status in wanted else None
        if image is None:
            continue
        images[scene.index] = await opened.enter_async_context(image)
        # the latest finished clip: while one is made again (or after that failed) the previous one still shows
        # this image, as a regenerated image drops its clip
        video = await jobs.open_media(scene.clip.video) if scene.clip and scene.clip.video else None
        if video is not None:
            clips[scene.index] = await opened.enter_async_context(video)
    return images, clips


class _Pull:
    """One member's chunks as the blocking iterable zipstream-ng reads: each ``next`` runs in the ZIP's thread and
    waits while the event loop reads the next chunk from the media store."""

    def __init__(self, source: MediaChunks, loop: asyncio.AbstractEventLoop) -> None:
        self._source, self._loop = source, loop

    def __iter__(self) -> _Pull:
        return self

    def __next__(self) -> bytes:
        chunk = asyncio.run_coroutine_threadsafe(_next_chunk(self._source), self._loop).result()
        if chunk is None:
            raise StopIteration
        return chunk


async def _next_chunk(source: MediaChunks) -> bytes | None:
    return await anext(source, None)


def build_zip(board: Storyboard, images: Mapping[int, MediaChunks], clips: Mapping[int, MediaChunks],
              loop: asyncio.AbstractEventLoop) -> ZipStream:
    """The ZIP of ``board`` with ``images`` and ``clips`` (scene index → the opened file), a scene's clip after its
    image; members are read on ``loop`` while :func:`zip_chunks` sends them."""
    stream = ZipStream(compress_type=ZIP_STORED, sized=False)
    files = {index: member_name(board.scenes[index]) for index in images}
    videos = {index: member_name(board.scenes[index], clip=True) for index in clips}
    for index in sorted(images):
        for source, name in ((images[index], files[index]), (clips.get(index), videos.get(index))):
            if source is not None and name is not None:
                # the size as known (not None): zipstream-ng then writes the header a bytes member would get
                # (no forced zip64), so the archive reads as before the members were streamed
                stream.add(_Pull(source, loop), name, size=source.size)
    public = board.public(lambda name: name)
    for scene in public["scenes"]:
        scene["image_url"] = files.get(scene["index"])
        if scene["clip"] is not None:
            scene["clip"]["video_url"] = videos.get(scene["index"])
    stream.add(json.dumps(public, indent=2, ensure_ascii=False).encode(), "storyboard.json")
    stream.add(contact_sheet(board, files, videos).encode(), "index.html")
    return stream


async def zip_chunks(stream: ZipStream) -> AsyncIterator[bytes]:
    """The ZIP's bytes, each chunk made in a thread of this download's own.

    Not the default executor: zipstream-ng's thread waits there for the loop to read a member's chunk, and the
    local store reads in a default-executor thread, so a few parallel downloads would hold every such thread
    waiting for one more. Close it (``aclosing``) before the members: an unfinished chunk is awaited first.
    Raises the store's ``OSError`` when a member cannot be read (the download is then cut short).
    """
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storyboard-zip")
    iterator = iter(stream)
    pending: Future[bytes | None] | None = None
    try:
        while True:
            pending = worker.submit(next, iterator, None)
            chunk = await asyncio.wrap_future(pending)
            if chunk is None:
                return
            yield chunk
    finally:
        if pending is not None and not pending.done():
            # cancelled while the thread waits for a chunk: let that read end before the caller closes the member
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(pending)
        with contextlib.suppress(ValueError):  # still executing if the wait above was cancelled too
            iterator.close()
        worker.shutdown(wait=False)
