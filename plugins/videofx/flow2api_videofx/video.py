"""The ``videofx-video`` provider: Veo text/image/reference-to-video, omni, extend, upsample (spec §2.8–2.20, §3, §4).

Sequence per attempt (:meth:`VideoFXVideoProvider.generate`):

1. plan operation and ``videoModelKey`` (§4.2: tier-two upgrade, image count,
   extend source) — :mod:`flow2api_videofx.video_plan`;
2. project (§5.8; replaced once when upstream no longer knows it) → upload the frames/references (§2.5);
3. submit with the §2.8 envelope and a fresh ``VIDEO_GENERATION`` token per
   try, the same sessionId/batchId across retries (:class:`~flow2api_videofx.attempt.Attempt`);
4. yield :class:`~flow2api.plugin.Submitted` — nothing is yielded before, so
   the pipeline may still fail over until upstream accepted the job — then
   :class:`~flow2api.plugin.Usage` (``remainingCredits``);
5. follow the job to its result (:class:`~flow2api_videofx.video_jobs.JobRunner`):
   batched polling, result URL, upsample / concatenation stages.

:meth:`VideoFXVideoProvider.resume` runs step 5 from a stored ``Submitted.resume``.

Extend jobs take the source video id from ``Job.extend_media_id``,
either bare or as the chat form ``extend://<mediaId>`` (spec §4.2 rule 6); the
chat handler must put an ``image_url`` of that form there instead of
downloading it as an image.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from flow2api.errors import PermissionDeniedError
from flow2api.plugin import AccountView, Call, Event, Kind, PluginContext, Progress, ProviderBase, Submitted, Usage
from flow2api_videofx.attempt import Attempt
from flow2api_videofx.family import VideoFXFamily
from flow2api_videofx.options import VideoOptions, tier_allows
from flow2api_videofx.video_jobs import VIDEO_ACTION, JobRunner
from flow2api_videofx.video_plan import extend_source, plan_video, video_request
from flow2api_videofx.video_state import ResumeState
from flow2api_videofx.wire import session_id


class VideoFXVideoProvider(ProviderBase):
    """Flow video generation; see :class:`flow2api.plugin.Provider`."""

    name = "videofx-video"
    kinds = frozenset({Kind.VIDEO})
    Options = VideoOptions

    def __init__(self, context: PluginContext) -> None:
        self.family = VideoFXFamily.shared(context)
        self.config = self.family.config
        self.tokens = self.family.tokens

    def describe(self, options: VideoOptions) -> dict[str, Any]:
        """Capabilities for ``/v1/models``: sub_kind, aspect ratio, duration, upsample, input image counts, tier."""
        return {
            "sub_kind": options.sub_kind, "aspect_ratio": options.aspect_ratio,
            "duration_seconds": options.duration_seconds, "upsample": options.upsample,
            "min_images": options.min_images, "max_images": options.max_images, "required_tier": options.required_tier,
        }

    def can_serve(self, options: VideoOptions, account: AccountView) -> bool:
        """Only accounts whose tier reaches the model's ``required_tier`` (spec §4.1)."""
        return tier_allows(account.tier, options.required_tier)

    async def generate(self, call: Call) -> AsyncIterator[Event]:
        """Submit the job and follow it; yields ``Submitted``, ``Usage``, ``Progress`` and one video ``MediaOutput``.

        Raises (before any event) ``InvalidRequestError`` for a wrong image
        count or a missing extend source, ``PermissionDeniedError`` for a tier
        below the model's, and the upstream errors of :mod:`flow2api_videofx.wire`;
        after ``Submitted``: ``GenerationFailedError`` (job FAILED),
        ``UpstreamTimeoutError`` (stuck / too many polls), the last poll error
        after ``[flow] max_poll_errors`` in a row, ``UpstreamError`` when no
        result URL or bytes can be had.
        """
        options: VideoOptions = call.job.options  # type: ignore[assignment]
        view = call.account.view
        if not tier_allows(view.tier, options.required_tier):
            raise PermissionDeniedError(f"This model needs an account of tier {options.required_tier}.")
        plan = plan_video(options, tier=view.tier, image_count=len(call.job.images),
                          source_video_id=extend_source(call.job.extend_media_id))
        attempt = Attempt(self.family, self.tokens, call)
        client = attempt.client
        # One sessionId and batchId per logical request, kept across token retries (spec §1.5, §2.8).
        sid, batch_id = session_id(), str(uuid.uuid4())

        async def start(project_id: str):  # noqa: ANN202 - upload the frames, then submit, in one project
            media_ids = [
                await attempt.run(lambda image=image: client.upload_image(project_id, image))
                for image in call.job.images[:plan.images]
            ]
            request = video_request(plan, prompt=call.job.prompt, aspect_ratio=options.aspect_ratio, media_ids=media_ids)

            async def submit(token: str):  # noqa: ANN202
                return await client.submit_video(
                    plan.operation, token=token, sid=sid, batch_id=batch_id, project_id=project_id,
                    tier=call.account.view.tier or "PAYGATE_TIER_NOT_PAID", requests=[request],
                )

            return await attempt.submit(page_url=client.page_url(project_id), action=VIDEO_ACTION, operation=submit)

        _, submission = await attempt.in_project(start)
        handle = submission.handles[0]  # one video per request (spec §3.2 rule 3)
        state = ResumeState(
            stage="generate", project_id=handle.project_id, media_name=handle.name, session_id=sid,
            batch_id=batch_id, operation=plan.operation, model_key=plan.key, aspect_ratio=options.aspect_ratio,
            upsample=options.upsample, upsampler_key=options.upsampler_key, source_video_id=plan.source_video_id,
        )
        yield Submitted(resume=state.to_json())
        if submission.remaining_credits is not None:
            yield Usage(remaining_credits=submission.remaining_credits)
        switched = " (Ultra key for this PAYGATE_TIER_TWO account)" if plan.tier_two else ""
        yield Progress(f"Flow accepted the video job: {plan.key}{switched}.", percent=5)
        async for event in JobRunner(attempt).follow(state):
            yield event

    async def resume(self, call: Call, state: Mapping[str, Any]) -> AsyncIterator[Event]:
        """Continue a job from its stored ``Submitted.resume`` on the same account, without submitting it again.

        Same events and errors as :meth:`generate` after its ``Submitted``;
        ``Flow2APIError`` (500) when ``state`` is not one of this provider's.
        """
        resumed = ResumeState.from_json(state)
        yield Progress(f"Resuming the video job ({resumed.stage}).")
        async for event in JobRunner(Attempt(self.family, self.tokens, call)).follow(resumed):
            yield event
