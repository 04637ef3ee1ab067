"""Storyboards' life: stored rows, planning, scene images through the job engine, review, resume after a restart.

Every change to a storyboard is read–modify–write of its row under the storyboard's lock (one
process serves a storyboard; its background task runs in the process that created or resumed it).
One background task per storyboard (:meth:`StoryboardService.kick`) plans it, then generates every
``queued`` scene, at most ``[storyboard] max_parallel`` at once (and at most the owner's key's
concurrency limit), then looks again: a scene regenerated meanwhile is taken in the same task.

Consistent characters: a character's *anchor* is the first scene that shows them. A later scene that
shows the character waits for the anchor's image and gets it as a reference image (at most
``max_references`` and the model's ``max_images``); if the anchor failed, the scene goes without.

Restart: on start every ``planning`` or ``generating`` storyboard is taken up again. A scene left
``generating`` first asks the job engine whether its task finished (``finished_image``): the image
made before the restart is kept, not generated twice; otherwise the scene is generated again under
a new attempt number (a new task row). Clips of approved scenes (:mod:`.animate`) are resumed too: the
row of a storyboard with a pending clip is stored ``animating``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any
from weakref import WeakValueDictionary

import aiohttp

from flow2api.errors import ConflictError, Flow2APIError, NotFoundError
from flow2api.plugin import ImageJob, InputImage, Owner, WorkflowHost
from flow2api_storyboard.animate import Animator
from flow2api_storyboard.config import StoryboardConfig
from flow2api_storyboard.model import (
    APPROVED, DONE, FAILED, GENERATING, PLANNING, QUEUED, RESUMED, SURFACE, PlanningError, Scene, Storyboard,
    compose_prompt,
)
from flow2api_storyboard.planner import plan

log = logging.getLogger(__name__)


class StoryboardService:
    """The storyboards of one app: rows in the host's document store, background tasks, media in the cache."""

    def __init__(self, host: WorkflowHost, config: StoryboardConfig) -> None:
        self.host = host
        self.jobs = host.jobs
        self.store = host.store
        self.config = config
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None
        self.animator = Animator(self)
        """The scenes' clips (issue 20 item 7)."""

    def _lock(self, sb_id: str) -> asyncio.Lock:
        lock = self._locks.get(sb_id)
        if lock is None:
            lock = self._locks[sb_id] = asyncio.Lock()
        return lock

    # -- rows ------------------------------------------------------------------------------------------

    async def load(self, sb_id: str, owner: str | None = None) -> Storyboard:
        """The storyboard; ``owner`` given: only if it is theirs. Raises ``NotFoundError`` (404) otherwise."""
        row = await self.store.get(sb_id)
        if row is None or (owner is not None and row.owner != owner):
            raise NotFoundError(f"No storyboard found with id '{sb_id}'.", param="id")
        return Storyboard.model_validate(row.data)

    async def _save(self, board: Storyboard) -> None:
        await self.store.put(board.id, owner=board.owner, status=board.stored_status,
                             data=board.model_dump(mode="json"))

    async def change(self, sb_id: str, edit: Callable[[Storyboard], Any], owner: str | None = None) -> Storyboard:
        """Apply ``edit`` to the stored storyboard under its lock, settle its status and store it."""
        async with self._lock(sb_id):
            board = await self.load(sb_id, owner)
            edit(board)
            board.settle()
            await self._save(board)
            return board

    async def create(self, owner: Owner, *, story: str, style: str | None, model: str, size: str | None,
                     scenes: int | None, consistent_characters: bool) -> Storyboard:
        """Store a new storyboard (``planning``) and start its background task."""
        board = Storyboard(id=f"sb_{secrets.token_hex(12)}", owner=owner.owner, owner_name=owner.name,
                           owner_key_id=owner.key_id, story=story, style=style, model=model, size=size,
                           requested_scenes=scenes, consistent_characters=consistent_characters)
        await self._save(board)
        self.kick(board.id)
        return board

    async def delete(self, sb_id: str, owner: str | None = None) -> None:
        """Stop its tasks, remove its images and clips from the media cache, soft-delete every clip's Videos API
        job (``GET /v1/videos/{id}`` then answers 404, as after ``DELETE /v1/videos/{id}``) and remove its row.
        ``NotFoundError`` if absent."""
        board = await self.load(sb_id, owner)
        task = self._tasks.pop(sb_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.animator.cancel(sb_id)
        for scene in board.scenes:
            for name in (scene.image, scene.clip.video if scene.clip else None):
                if name:
                    await self.jobs.remove_media(name)
            for video_id in board.clip_task_ids(scene):  # also clips dropped by a regeneration
                await self.jobs.delete_video(video_id, board.job_owner)
        await self.store.delete(sb_id)

    async def regenerate(self, sb_id: str, index: int, prompt: str | None, owner: str | None = None) -> Storyboard:
        """Queue scene ``index`` again (with a new ``prompt`` if given); 404 for an unknown scene, 409 while it or
        its clip runs. Its clip (of the old image) is dropped, its video removed from the media cache."""
        stale: list[str] = []

        def edit(board: Storyboard) -> None:
            scene = _scene(board, index)
            if board.status == PLANNING or scene.status in (QUEUED, GENERATING):
                raise ConflictError(f"Scene {index} is still being generated; regenerate it once it is done.")
            if scene.clip is not None and scene.clip.pending:
                raise ConflictError(f"The clip of scene {index} is still being generated; regenerate it once"
                                    " the clip is done.")
            if prompt is not None:
                scene.prompt = prompt
            if scene.clip is not None and scene.clip.video:
                stale.append(scene.clip.video)
            scene.status, scene.error, scene.clip = QUEUED, None, None
            if board.status in (APPROVED, FAILED):
                board.status, board.error = GENERATING, None

        board = await self.change(sb_id, edit, owner)
        for name in stale:
            await self.jobs.remove_media(name)
        self.kick(sb_id)
        return board

    async def approve(self, sb_id: str, scenes: list[int] | None, owner: str | None = None) -> Storyboard:
        """Approve scenes ``scenes`` (``None``: every scene with an image); the storyboard becomes ``approved``.

        404 for an unknown scene, 409 for a scene without an image (queued, generating, failed) or when no
        scene has one. The approval that leaves every scene approved emits the ``storyboard.ready`` webhook
        event (``data: {"id": <storyboard id>}``, to the owner's key's endpoint, else ``[webhooks] url``)."""
        became_ready: list[bool] = []

        def edit(board: Storyboard) -> None:
            was_ready = _every_scene_approved(board)
            chosen = [_scene(board, i) for i in scenes] if scenes is not None else [
                s for s in board.scenes if s.status in (DONE, APPROVED)]
            blocked = [s.index for s in chosen if s.status not in (DONE, APPROVED)]
            if blocked or not chosen:
                raise ConflictError(f"Only scenes with an image can be approved (not scene(s) {blocked})."
                                    if blocked else "No scene has an image to approve yet.", param="scenes")
            for scene in chosen:
                scene.status = APPROVED
            board.status = APPROVED
            became_ready.append(not was_ready and _every_scene_approved(board))

        board = await self.change(sb_id, edit, owner)
        if became_ready[0]:
            await self.host.events.emit("storyboard.ready", {"id": board.id}, owner=board.job_owner)
        return board

    # -- background ------------------------------------------------------------------------------------

    async def start(self, http: aiohttp.ClientSession) -> int:
        """Take up every unfinished storyboard and pending clip (restart); returns how many storyboards."""
        self._http = http
        rows = await self.store.unfinished(RESUMED)
        for row in rows:
            self.kick(row.id)
            self.animator.resume(Storyboard.model_validate(row.data))
        if rows:
            log.info("storyboards: %d unfinished storyboard(s) taken up again after start-up", len(rows))
        return len(rows)

    async def close(self) -> None:
        """Cancel every task; their storyboards stay as stored, to be taken up by the next :meth:`start`."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await self.animator.cancel()

    def kick(self, sb_id: str) -> None:
        """Run the storyboard's background task unless it runs already (it looks for queued scenes again)."""
        if sb_id in self._tasks:
            return
        task = asyncio.create_task(self._drive(sb_id), name=f"storyboard-{sb_id}")
        self._tasks[sb_id] = task

    async def _drive(self, sb_id: str) -> None:
        try:
            while True:
                async with self._lock(sb_id):
                    board = await self.load(sb_id)
                    if board.status != PLANNING and not any(s.status in (QUEUED, GENERATING) for s in board.scenes):
                        # under the lock: a regenerate after this sees no task and starts one
                        self._tasks.pop(sb_id, None)
                        return
                if board.status == PLANNING:
                    await self._plan(board)
                else:
                    await self._generate(board)
        except asyncio.CancelledError:
            raise
        except NotFoundError:  # deleted meanwhile
            self._tasks.pop(sb_id, None)
        except Exception:  # a bug must not leave the storyboard generating forever
            log.exception("storyboard %s crashed", sb_id)
            self._tasks.pop(sb_id, None)

            def fail(board: Storyboard) -> None:
                board.status, board.error = FAILED, "internal_error: see the server log"
                for scene in board.scenes:
                    if scene.status in (QUEUED, GENERATING):
                        scene.status, scene.error = FAILED, "internal_error"

            await self.change(sb_id, fail)

    async def _plan(self, board: Storyboard) -> None:
        assert self._http is not None, "start() first"
        try:
            result = await plan(self.config, self._http, board.story, board.requested_scenes, board.style)
        except PlanningError as exc:
            log.info("storyboard %s: planning failed: %s", board.id, exc)

            def failed(b: Storyboard) -> None:
                b.status, b.error = FAILED, f"planning_failed: {exc}"

            await self.change(board.id, failed)
            return
        characters = {c.name: c for c in result.characters}

        def planned(b: Storyboard) -> None:
            b.characters = list(result.characters)
            b.scenes = [Scene(index=i, title=s.title, narration=s.narration, characters=s.characters,
                              prompt=compose_prompt(s.prompt, b.style, [characters[n] for n in s.characters]))
                        for i, s in enumerate(result.scenes)]
            b.status = GENERATING

        await self.change(board.id, planned)

    async def _generate(self, board: Storyboard) -> None:
        """Generate every queued (or interrupted) scene of ``board``, bounded, anchors first."""
        owner = board.job_owner
        limit = self.config.max_parallel
        try:
            key_limit = await self.jobs.concurrency(owner)
        except Flow2APIError:
            key_limit = 0  # the key is gone: each scene fails with the engine's 403 below
        slots = asyncio.Semaphore(min(limit, key_limit) if key_limit else limit)
        todo = [s for s in board.scenes if s.status in (QUEUED, GENERATING)]
        finished = {s.index: asyncio.Event() for s in todo}
        anchors = _anchors(board) if board.consistent_characters else {}

        async def one(scene: Scene) -> None:
            try:
                refs = sorted({anchors[n] for n in scene.characters if anchors.get(n, scene.index) < scene.index})
                for ref in refs:  # wait for the anchors generated in this same pass
                    if ref in finished:
                        await finished[ref].wait()
                async with slots:
                    await self._scene(board.id, scene.index, owner, refs)
            finally:
                finished[scene.index].set()

        await asyncio.gather(*(one(s) for s in todo))

    async def _references(self, sb_id: str, refs: list[int]) -> tuple[list[int], tuple[InputImage, ...]]:
        board = await self.load(sb_id)
        used, images = [], []
        cap = self.config.max_references
        model = self.jobs.image_model(board.model)
        if model.max_images is not None:
            cap = min(cap, model.max_images)
        for index in refs[:cap]:
            ref = board.scenes[index]
            data = await self.jobs.read_media(ref.image) if ref.image and ref.status in (DONE, APPROVED) else None
            if data is not None:
                used.append(index)
                images.append(InputImage(data=data, mime_type=ref.mime_type or "image/png"))
        return used, tuple(images)

    async def _scene(self, sb_id: str, index: int, owner: Owner, refs: list[int]) -> None:
        """One scene's image: kept from before a restart if its task finished, else generated now."""
        board = await self.load(sb_id)
        scene = board.scenes[index]
        # only a scene interrupted while generating (a restart) may have finished unseen; a queued one is new work
        interrupted = scene.status == GENERATING and scene.attempt > 0
        kept = await self.jobs.finished_image(board.task_id(scene)) if interrupted else None
        if kept is None:
            used, images = await self._references(sb_id, refs)

            def begin(b: Storyboard) -> None:
                s = b.scenes[index]
                s.status, s.attempt, s.references, s.error = GENERATING, s.attempt + 1, used, None

            board = await self.change(sb_id, begin)
            scene = board.scenes[index]
            job = ImageJob(task_id=board.task_id(scene), owner=owner, model=board.model, prompt=scene.prompt,
                           images=images, surface=SURFACE, request={"storyboard": sb_id, "scene": index})
            try:
                kept = await self.jobs.generate_image(job)
            except Flow2APIError as exc:
                log.info("storyboard %s scene %d failed: %s", sb_id, index, exc.code)

                def failed(b: Storyboard) -> None:
                    b.scenes[index].status, b.scenes[index].error = FAILED, f"{exc.code}: {exc.message}"

                await self.change(sb_id, failed)
                return
        image = kept
        previous: list[str] = []

        def done(b: Storyboard) -> None:
            s = b.scenes[index]
            if s.image and s.image != image.name:
                previous.append(s.image)
            s.status, s.image, s.mime_type, s.error = DONE, image.name, image.mime_type, None

        await self.change(sb_id, done)
        for name in previous:  # the regenerated scene's old image is no longer part of the storyboard
            await self.jobs.remove_media(name)


def _scene(board: Storyboard, index: int) -> Scene:
    if not 0 <= index < len(board.scenes):
        raise NotFoundError(f"The storyboard has no scene {index}.", param="index")
    return board.scenes[index]


def _anchors(board: Storyboard) -> dict[str, int]:
    """Each character's first scene (the one whose image later scenes get as a reference)."""
    anchors: dict[str, int] = {}
    for scene in board.scenes:
        for name in scene.characters:
            anchors.setdefault(name, scene.index)
    return anchors


def _every_scene_approved(board: Storyboard) -> bool:
    """Whether the storyboard has scenes and every one has an approved image (``storyboard.ready``)."""
    return bool(board.scenes) and all(s.status == APPROVED and s.image for s in board.scenes)
