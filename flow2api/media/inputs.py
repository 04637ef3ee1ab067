"""Input images of queued jobs, kept in the media store until the job ends (``inputs/<task id>/<n>.<ext>``).

A Videos API job may wait in the queue, or be interrupted by a restart before
upstream accepted it; it is then submitted again from its task row and these
images — by this instance or by another that claimed the job (issue 17,
docs/deployment.md). So they live where every instance reads: the media store
(``app[MEDIA]``: the local directory, shared or not, or the S3 bucket), under an
``inputs/`` prefix that is no media name, so neither the TTL nor the size cap
removes them while the job still needs them and ``/media/`` never serves them.

Before this, they were in ``<data_dir>/inputs/<task id>/`` (per instance); a
job queued by an older version is still read from there (``legacy``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path

from flow2api.media.cache import MediaStore
from flow2api.media.types import extension_for, sniff_mime
from flow2api.plugin import InputImage

log = logging.getLogger(__name__)

_TASK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_NAME = re.compile(r"^[0-9]{1,4}\.[a-z0-9]{2,5}$")  # what save() names them: "0.png", "1.jpg" …


def _checked(task_id: str, name: str = "0.png") -> str:
    """``task_id`` when it and ``name`` are safe as key and path parts (a row's request could be tampered with)."""
    if not _TASK_ID.match(task_id) or task_id.startswith(".") or not _NAME.match(name):
        raise ValueError("invalid task id or input name for the input store")
    return task_id


class InputStore:
    """The input images of each task, in request order, in ``store``; ``legacy`` is the old per-instance
    directory (``<data_dir>/inputs``), read and cleaned as a fallback."""

    def __init__(self, store: MediaStore, legacy: Path | None = None) -> None:
        self.store = store
        self.legacy = legacy

    async def save(self, task_id: str, images: tuple[InputImage, ...]) -> list[str]:
        """Store the images of ``task_id``; returns their names (``0.png``, ``1.jpg`` …). ``OSError`` on failure."""
        names = [f"{i}{extension_for(image.mime_type)}" for i, image in enumerate(images)]
        for name, image in zip(names, images):
            await self.store.put_input(_checked(task_id, name), name, image.data)
        return names

    async def load(self, task_id: str, names: list[str]) -> tuple[InputImage, ...]:
        """The images saved for ``task_id``; raises ``FileNotFoundError`` when one is gone, ``OSError`` when the
        store cannot be read."""
        out = []
        for name in names:
            data = await self.store.read_input(_checked(task_id, name), name)
            if data is None and self.legacy is not None:
                data = await asyncio.to_thread(_read_file, self.legacy / task_id / name)
            if data is None:
                raise FileNotFoundError(f"input {name} of {task_id}")
            out.append(InputImage(data=data, mime_type=sniff_mime(data) or "application/octet-stream"))
        return tuple(out)

    async def delete(self, task_id: str) -> None:
        """Remove the task's images (the job ended); missing ones are fine. Never raises for the store: the job's
        outcome is already stored, so a failure (an unreachable bucket) is logged and the images are left."""
        try:
            await self.store.delete_inputs(_checked(task_id))
        except OSError as exc:
            log.warning("input images of %s not deleted: %s", task_id, exc)
        if self.legacy is not None:
            await asyncio.to_thread(shutil.rmtree, self.legacy / task_id, True)


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
