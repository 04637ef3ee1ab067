"""Clips (issue 20 item 7): an approved scene's image animated into a short video by an image-to-video model.

A clip is one Videos API job made through the host's job interface
(:meth:`flow2api.plugin.ImageJobs.generate_video`): the core's background video runner runs it under a lease,
with failover, and resumes it upstream on the same account after a restart. One background task per clip
waits for it here.

Restart safety, as scene images: a clip is stored ``generating`` with its attempt number *before* its job
is queued, and the job's id is derived from that number (:meth:`Storyboard.clip_task_id`). After a restart
the same id is asked for again, which joins the job the runner resumed (or queues it, if the process
stopped between the two writes): a clip is never generated twice. A clip re-made on request is a new
attempt; its previous video leaves the media cache once the new one exists.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from flow2api.errors import ConflictError, Flow2APIError, GenerationFailedError, NotFoundError
from flow2api.plugin import InputImage, VideoJob
from flow2api_storyboard.model import APPROVED, DONE, FAILED, GENERATING, QUEUED, Clip, Storyboard

if TYPE_CHECKING:
    from flow2api_storyboard.service import StoryboardService

log = logging.getLogger(__name__)


class Animator:
    """The clips of one :class:`StoryboardService`: requests, background tasks, resume after a restart."""

    def __init__(self, service: StoryboardService) -> None:
        self.service = service
        self.jobs = service.jobs
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}

    async def animate(self, sb_id: str, index: int, *, model: str, prompt: str | None,
                      owner: str | None = None) -> Storyboard:
        """Queue a clip of scene ``index`` with the resolved video ``model`` and ``prompt`` (default: the scene's
        image prompt). 404 for an unknown storyboard or scene, 409 when the scene is not approved or its clip
        is still being generated."""

        def edit(board: Storyboard) -> None:
            scene = board.scenes[index] if 0 <= index < len(board.scenes) else None
            if scene is None:
                raise NotFoundError(f"The storyboard has no scene {index}.", param="index")
            if scene.status != APPROVED:
                raise ConflictError(f"Scene {index} is not approved; only an approved scene can be animated.",
                                    param="index")
            if scene.clip is not None and scene.clip.pending:
                raise ConflictError(f"The clip of scene {index} is still being generated.", param="index")
            old = scene.clip
            # numbered after every clip the scene had (a regeneration drops the clip, not its jobs)
            attempt = max(scene.clip_attempts, old.attempt if old else 0)
            scene.clip = Clip(model=model, prompt=prompt or scene.prompt, attempt=attempt,
                              video=old.video if old else None, mime_type=old.mime_type if old else None)

        board = await self.service.change(sb_id, edit, owner)
        self.kick(sb_id, index)
        return board

    def kick(self, sb_id: str, index: int) -> None:
        """Run the clip's background task unless it runs already."""
        key = (sb_id, index)
        if key in self._tasks:
            return
        task = asyncio.create_task(self._run(sb_id, index), name=f"storyboard-{sb_id}-clip-{index}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._tasks.pop(key) if self._tasks.get(key) is done else None)

    def resume(self, board: Storyboard) -> int:
        """Take up ``board``'s pending clips (start-up); returns how many."""
        pending = [s.index for s in board.scenes if s.clip is not None and s.clip.pending]
        for index in pending:
            self.kick(board.id, index)
        return len(pending)

    async def cancel(self, sb_id: str | None = None) -> None:
        """Cancel the clip tasks of ``sb_id`` (``None``: all); their jobs run on in the video runner."""
        tasks = [t for (owner_id, _), t in self._tasks.items() if sb_id is None or owner_id == sb_id]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, sb_id: str, index: int) -> None:
        try:
            await self._clip(sb_id, index)
        except asyncio.CancelledError:
            raise
        except NotFoundError:  # the storyboard was deleted meanwhile
            pass
        except Exception:  # a bug must not leave the clip generating forever
            log.exception("storyboard %s clip %d crashed", sb_id, index)
            await self._fail(sb_id, index, "internal_error: see the server log")

    async def _fail(self, sb_id: str, index: int, error: str, *, queued: bool = True) -> None:
        """Store the clip failed with ``error``; ``queued=False``: it failed before its job was queued (no
        ``video_id``)."""

        def failed(board: Storyboard) -> None:
            clip = board.scenes[index].clip
            if clip is not None:
                clip.status, clip.error, clip.never_queued = FAILED, error, not queued

        await self.service.change(sb_id, failed)

    async def _clip(self, sb_id: str, index: int) -> None:
        board = await self.service.load(sb_id)
        scene = board.scenes[index]
        if scene.clip is None or not scene.clip.pending:
            return
        image = await self.jobs.read_media(scene.image) if scene.image else None
        if scene.clip.status == QUEUED:
            if image is None:
                await self._fail(sb_id, index, "image_expired: the scene's image has left the media cache",
                                 queued=False)
                return

            def begin(b: Storyboard) -> None:  # stored before the job exists: a restart asks for the same job
                clip = b.scenes[index].clip
                assert clip is not None
                clip.status, clip.attempt, clip.error, clip.never_queued = GENERATING, clip.attempt + 1, None, False
                b.scenes[index].clip_attempts = clip.attempt

            board = await self.service.change(sb_id, begin)
            scene = board.scenes[index]
        assert scene.clip is not None
        owner = board.job_owner
        # the image is only read by the core when the job does not exist yet (not after a restart)
        inputs = (InputImage(data=image, mime_type=scene.mime_type or "image/png"),) if image is not None else ()
        job = VideoJob(task_id=board.clip_task_id(scene), owner=owner, model=scene.clip.model,
                       prompt=scene.clip.prompt, images=inputs, request={"storyboard": sb_id, "scene": index})
        try:
            made = await self.jobs.generate_video(job)
        except Flow2APIError as exc:
            log.info("storyboard %s clip %d failed: %s", sb_id, index, exc.code)
            # a failed video job's message is its row's "code: message" already; any other error is raised
            # before the job's row is created (ImageJobs.generate_video): there is no job to name
            ran = isinstance(exc, GenerationFailedError)
            await self._fail(sb_id, index, exc.message if ran else f"{exc.code}: {exc.message}", queued=ran)
            return
        previous: list[str] = []

        def done(b: Storyboard) -> None:
            clip = b.scenes[index].clip
            if clip is None:
                return
            if clip.video and clip.video != made.name:
                previous.append(clip.video)
            clip.status, clip.video, clip.mime_type, clip.error = DONE, made.name, made.mime_type, None

        await self.service.change(sb_id, done)
        for name in previous:  # the clip made again replaces the old one
            await self.jobs.remove_media(name)
