"""Following an accepted video job to its result: polling, result URL, upsample and extend stages (spec §2.13–2.17,
§2.20, §3).

:class:`JobRunner` continues a job from its :class:`~flow2api_videofx.video_state.ResumeState`
(right after the submit, or after a restart). Per stage:

* **generate** — poll the media through the account's batched poller (§3.2);
  on SUCCESSFUL fetch the result (§3.3): the ``Location`` of
  ``media.getMediaUrlRedirect`` (§2.16, not followed; the UUID in its path is
  the video id for follow-ups), else the ``encodedVideo`` of ``GET
  {api}/media/<name>`` (§2.17). Then upsample, concatenate or finish.
* **upsample** — submit ``UpsampleVideo`` (fresh token, same sessionId, new
  batchId), poll it in its own loop, return its result. If the project vanished
  before the submit and the generated video can still be reached, the upsample
  is submitted once more in a new project. If it cannot be started or fails (its
  project vanishing while it runs included), the generated video is returned
  with a warning (as images fall back to 1K, §2.7).
* **concat** — after an extension, join source + extension (§2.20) and poll
  every ``poll_interval`` up to ``concat_timeout``; the result is ``outputUri``
  (streamed by the core) or ``encodedVideo``. If joining fails the extension
  clip alone is returned with a warning.

Every new upstream job yields a new :class:`~flow2api.plugin.Submitted` so a
restart resumes the latest stage without paying twice.

A project that vanishes while the **generate** stage is polled (or on a resume
after a restart) ends the job with ``ProjectLostError`` "submit the request again":
the job was accepted and paid, so it is never submitted again
(:meth:`flow2api_videofx.polling.StatusPoller.track`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from flow2api.errors import Flow2APIError, GenerationFailedError, UpstreamError, UpstreamTimeoutError
from flow2api.plugin import Event, Kind, MediaOutput, Progress, Submitted, Usage
from flow2api_flowkit.projects import ProjectGoneError
from flow2api_videofx.attempt import Attempt
from flow2api_videofx.client import VideoHandle, video_id_of
from flow2api_videofx.client_videos import Submission, decode_video
from flow2api_videofx.video_plan import UPSAMPLE_VIDEO, concat_inputs, upsample_request
from flow2api_videofx.video_state import ResumeState
from flow2api_videofx.wire import REFERER

log = logging.getLogger(__name__)

VIDEO_ACTION = "VIDEO_GENERATION"
VIDEO_MIME = "video/mp4"


@dataclass(frozen=True, slots=True)
class Located:
    """A finished video: media ``name``, its signed ``url`` or inline ``data``, and the ``video_id`` for follow-ups."""

    name: str
    video_id: str
    url: str | None = None
    data: bytes | None = None

    def output(self) -> MediaOutput:
        """The :class:`MediaOutput` the core caches (a URL is streamed to disk, bytes are written)."""
        if self.url is not None:
            return MediaOutput(Kind.VIDEO, mime_type=VIDEO_MIME, url=self.url, headers={"Referer": REFERER},
                               upstream_id=self.video_id)
        return MediaOutput(Kind.VIDEO, mime_type=VIDEO_MIME, data=self.data, upstream_id=self.video_id)

    def __repr__(self) -> str:  # the URL is a signed capability
        return f"Located(name={self.name!r}, video_id={self.video_id!r})"


class JobRunner:
    """Continues one video job for one attempt (see the module docstring)."""

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.family = attempt.family
        self.config = attempt.family.config.flow

    def _max_attempts(self, state: ResumeState) -> int:
        # Spec §3.2: 200 polls, x3 when the model is upsampled afterwards (the upsampler may take ~30 min).
        return self.config.max_poll_attempts * (3 if state.upsample else 1)

    async def _track(self, state: ResumeState, label: str, span: tuple[float, float]) -> AsyncIterator[Progress]:
        call = self.attempt.call
        poller = self.family.poller(call.account.view.id)
        assert state.media_name is not None
        async for progress in poller.track(
            VideoHandle(state.media_name, state.project_id), call.account, call.http,
            max_attempts=self._max_attempts(state), label=label, span=span,
        ):
            yield progress

    async def follow(self, state: ResumeState) -> AsyncIterator[Event]:
        """Yield progress and finally the video's :class:`MediaOutput`, from ``state.stage`` on."""
        if state.stage == "upsample":
            async for event in self._finish_upsample(state, None):
                yield event
            return
        if state.stage == "concat":
            async for event in self._finish_concat(state, None):
                yield event
            return
        span = (5.0, 60.0) if state.upsample else (5.0, 70.0) if state.extend else (5.0, 95.0)
        async for progress in self._track(state, "Extension" if state.extend else "Video", span):
            yield progress
        assert state.media_name is not None
        located, note = await self.locate(state.media_name)
        if note:
            yield Progress(note)
        if state.extend:
            async for event in self._concatenate(state, located):
                yield event
        elif state.upsample:
            async for event in self._upsample(state, located):
                yield event
        else:
            yield located.output()

    async def locate(self, name: str) -> tuple[Located, str | None]:
        """Where the finished media ``name`` is (spec §3.3) and a warning when the fallback was needed.

        Redirect first (§2.16); on any failure the base64 media (§2.17).
        Raises ``UpstreamError`` "video generated but media URL unavailable" when both fail.
        """
        client = self.attempt.client
        try:
            where = await self.attempt.run(lambda: client.media_url(name))
        except Flow2APIError as exc:
            log.warning("media URL of %s unavailable (%s); fetching the inline video", name, exc.code)
            redirect_error = exc
        else:
            return Located(name, where.video_id or name, url=where.url), None
        try:
            data = await self.attempt.run(lambda: client.video_bytes(name))
        except Flow2APIError as exc:
            raise UpstreamError(
                f"Flow generated the video but its media URL is unavailable ({redirect_error.message}; {exc.message})"
            ) from exc
        return Located(name, name, data=data), f"⚠️ media URL unavailable ({redirect_error.code}); using the inline video"

    async def _upsample(self, state: ResumeState, base: Located) -> AsyncIterator[Event]:
        assert state.upsample is not None and state.upsampler_key is not None
        label = state.upsample.rsplit("_", 1)[-1]
        yield Progress(f"Upsampling the video to {label}…", percent=60)
        client = self.attempt.client
        request = upsample_request(aspect_ratio=state.aspect_ratio, resolution=state.upsample,
                                   key=state.upsampler_key, video_id=base.video_id)
        batch_id = str(uuid.uuid4())  # a new upstream batch, in the same logical session (spec silent)

        async def submit_in(project_id: str) -> Submission:
            async def submit(token: str) -> Submission:
                return await client.submit_video(
                    UPSAMPLE_VIDEO, token=token, sid=state.session_id, batch_id=batch_id, project_id=project_id,
                    tier=self.attempt.call.account.view.tier or "PAYGATE_TIER_NOT_PAID", requests=[request],
                )

            return await self.attempt.submit(page_url=client.page_url(project_id), action=VIDEO_ACTION,
                                             operation=submit)

        project_id = state.project_id
        try:
            try:
                submission = await submit_in(project_id)
            except ProjectGoneError as exc:
                if exc.project_id != project_id:
                    raise
                # Nothing was accepted yet. When the finished video can still be reached (its media URL, §2.16,
                # names no project) it is upsampled once in a new project: videoInput takes any project's video.
                try:
                    await self.attempt.run(lambda: client.media_url(base.name))
                except Flow2APIError:
                    await self.family.projects.forget(self.attempt.call.account, project_id)
                    raise
                project_id = await self.attempt.replace_project(project_id)
                yield Progress("The account's project vanished upstream; upsampling in a new project…")
                submission = await submit_in(project_id)
        except Flow2APIError as exc:
            yield Progress(f"⚠️ Upsampling could not start ({exc.code}: {exc.message}); returning the generated video.")
            yield base.output()
            return
        upsampling = state.model_copy(update={
            "stage": "upsample", "media_name": submission.handles[0].name, "batch_id": batch_id,
            "base_media_name": base.name, "base_video_id": base.video_id, "project_id": project_id,
        })
        yield Submitted(resume=upsampling.to_json())
        if submission.remaining_credits is not None:
            yield Usage(remaining_credits=submission.remaining_credits)
        async for event in self._finish_upsample(upsampling, base):
            yield event

    async def _finish_upsample(self, state: ResumeState, base: Located | None) -> AsyncIterator[Event]:
        try:
            async for progress in self._track(state, "Upsample", (60.0, 95.0)):
                yield progress
            assert state.media_name is not None
            result, note = await self.locate(state.media_name)
        except Flow2APIError as exc:
            yield Progress(f"⚠️ Upsampling failed ({exc.code}: {exc.message}); returning the generated video.")
            if base is None:
                assert state.base_media_name is not None
                base, _ = await self.locate(state.base_media_name)
            yield base.output()
            return
        if note:
            yield Progress(note)
        yield result.output()

    async def _concatenate(self, state: ResumeState, extension: Located) -> AsyncIterator[Event]:
        assert state.source_video_id is not None
        yield Progress("Joining the source video and its extension…", percent=70)
        client = self.attempt.client
        inputs = concat_inputs(state.source_video_id, extension.video_id)
        try:
            operation = await self.attempt.run(lambda: client.concatenate(inputs))
        except Flow2APIError as exc:
            yield Progress(f"⚠️ Joining failed to start ({exc.code}: {exc.message}); returning the extension alone.")
            yield extension.output()
            return
        joining = state.model_copy(update={
            "stage": "concat", "concat_operation": operation, "extension_video_id": extension.video_id,
            "base_media_name": extension.name,
        })
        yield Submitted(resume=joining.to_json())
        async for event in self._finish_concat(joining, extension):
            yield event

    async def _finish_concat(self, state: ResumeState, extension: Located | None) -> AsyncIterator[Event]:
        assert state.concat_operation is not None
        client = self.attempt.client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.concat_timeout
        polls = errors = 0
        failure: Flow2APIError
        while True:
            await asyncio.sleep(self.config.poll_interval)
            polls += 1
            try:
                status = await self.attempt.run(lambda: client.concatenation_status(state.concat_operation or ""))
            except Flow2APIError as exc:
                errors += 1
                if errors >= self.config.max_poll_errors:
                    failure = exc
                    break
                continue
            errors = 0
            if status.done:
                if status.output_uri:
                    yield MediaOutput(Kind.VIDEO, mime_type=VIDEO_MIME, url=status.output_uri,
                                      headers={"Referer": REFERER}, upstream_id=video_id_of(status.output_uri))
                else:
                    yield MediaOutput(Kind.VIDEO, mime_type=VIDEO_MIME,
                                      data=decode_video(status.encoded_video, "runVideoFxCheckConcatenationStatus"))
                return
            if status.failed:
                failure = GenerationFailedError(f"Flow video concatenation failed ({status.status})")
                break
            if loop.time() >= deadline:
                failure = UpstreamTimeoutError(f"Flow video concatenation did not finish within {self.config.concat_timeout:g} s")
                break
            if polls % self.config.progress_every == 0:
                yield Progress(f"Joining… (poll {polls})", percent=min(95.0, 70.0 + polls))
        yield Progress(f"⚠️ Joining failed ({failure.code}: {failure.message}); returning the extension alone.")
        if extension is None:
            assert state.base_media_name is not None
            extension, _ = await self.locate(state.base_media_name)
        yield extension.output()
