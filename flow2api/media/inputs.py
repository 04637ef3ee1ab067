"""Input images of queued jobs, kept on disk until the job ends (``<data_dir>/inputs/<task id>/``).

A Videos API job may wait in the queue, or be interrupted by a restart before
upstream accepted it; it is then submitted again from its task row and these
files. They are not part of the media cache, so neither TTL nor the size cap
can remove them while the job still needs them.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from flow2api.media.files import open_private, private_dir
from flow2api.media.types import extension_for, sniff_mime
from flow2api.plugin import InputImage

_TASK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class InputStore:
    """Per-task directories of input images, in request order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _dir(self, task_id: str) -> Path:
        if not _TASK_ID.match(task_id):
            raise ValueError("invalid task id for the input store")
        return self.directory / task_id

    async def save(self, task_id: str, images: tuple[InputImage, ...]) -> list[str]:
        """Write the images of ``task_id``; returns their file names (``0.png``, ``1.jpg`` …)."""

        def write() -> list[str]:
            private_dir(self.directory)
            target = private_dir(self._dir(task_id))
            names = []
            for i, image in enumerate(images):
                name = f"{i}{extension_for(image.mime_type)}"
                with open_private(target / name) as fh:
                    fh.write(image.data)
                names.append(name)
            return names

        return await asyncio.to_thread(write)

    async def load(self, task_id: str, names: list[str]) -> tuple[InputImage, ...]:
        """The images saved for ``task_id``; raises ``FileNotFoundError`` when one is gone."""

        def read() -> tuple[InputImage, ...]:
            out = []
            for name in names:
                data = (self._dir(task_id) / Path(name).name).read_bytes()
                out.append(InputImage(data=data, mime_type=sniff_mime(data) or "application/octet-stream"))
            return tuple(out)

        return await asyncio.to_thread(read)

    async def delete(self, task_id: str) -> None:
        """Remove the task's images (the job ended); missing ones are fine."""
        await asyncio.to_thread(shutil.rmtree, self._dir(task_id), True)
