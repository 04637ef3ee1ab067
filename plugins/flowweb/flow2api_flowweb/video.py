"""The ``flowweb-video`` provider: Veo / Omni videos on flow.google.com (spec §5.3–§5.8, §6).

One job: upload frames or references (maseQ; for an edit, the user's video first and the source's
project, :mod:`~flow2api_flowweb.edit`) → :class:`~flow2api.plugin.Submitting` (the media id
Flow will derive from the item's seed, stored before the submit) → submit (YhhmEf / eb1hJf / nprQif /
MZZa6b / fZytfe / jIps6) → :class:`~flow2api.plugin.Submitted` (the commit point; ``resume`` is a
:class:`~flow2api_flowweb.video_state.VideoState`: project and
media ids) → batched ``jwpduf`` polls until status 3 → optional promotion (p0UkFb, polled the
same way) → ``as29s`` until the signed MP4 URL exists (it follows status 3 by 2–8 s, spec §6.1)
→ :class:`~flow2api.plugin.MediaOutput`. :meth:`FlowWebVideoProvider.resume` continues from
the ``resume`` state after a restart, on the same account.

The extend (fZytfe) and upsampler (p0UkFb) keys are chosen from the account's ``HTrJv`` model catalogue
(:mod:`~flow2api_flowweb.model_keys`, spec §10): checked before anything is submitted (a tier without the
usage is a 400 naming the operation), and re-read once when upstream refuses the key.

A project that vanishes after the submit (issue 18): ``jwpduf`` and ``as29s`` name media ids only (spec
§6.1, §6.3), so polling and delivery go on and the account's next submit replaces the project. A
promotion refused for its vanished project is sent once more in a new one when the source video can
still be read, else the job ends with ``ProjectLostError`` (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from flow2api.errors import (
    ContentPolicyError,
    Flow2APIError,
    GenerationFailedError,
    InvalidRequestError,
    PermissionDeniedError,
    UpstreamTimeoutError,
)
from flow2api.plugin import (
    AccountView, Call, Event, Kind, MediaOutput, PluginContext, Progress, ProviderBase, Submitted, Submitting, Usage,
)
from flow2api_flowkit.projects import ProjectGoneError, ProjectLostError, gone_again, lost_with_project
from flow2api_flowweb.client import FlowWebClient
from flow2api_flowweb.edit import prepare_edit
from flow2api_flowweb.family import FlowWebFamily
from flow2api_flowweb.layouts import Seeds, new_uuid, upscaled_id
from flow2api_flowweb.options import VideoOptions, check_image_count, tier_allows
from flow2api_flowweb.records import COMPLAINT, DONE, FAILED_STATUSES, RUNNING, SUBMITTED, Record
from flow2api_flowweb.statuses import safety_reasons
from flow2api_flowweb.video_state import VideoState

log = logging.getLogger(__name__)

_STATUS_TEXT = {SUBMITTED: ("queued", 10.0), RUNNING: ("generating", 40.0), COMPLAINT: ("running with a warning", 50.0)}


def plan(options: VideoOptions, images: int, extend_media_id: str | None) -> tuple[str, str]:
    """(submit mode, model key) for a route and the number of input images; 400 when they do not fit."""
    sub = options.sub_kind
    if sub == "edit":
        return "edit", options.video_model_key  # the source and references are checked by prepare_edit
    if sub == "t2v":
        return "t2v", options.video_model_key  # text-to-video models ignore images (as on labs)
    if sub == "extend":
        if not extend_media_id:
            raise InvalidRequestError("Extend models need the source video's media id (extend://<mediaId>).",
                                      param="messages")
        return "extend", options.video_model_key
    if sub == "r2v":
        check_image_count(images, max(1, options.min_images), options.max_images or 3)
        return "r2v", options.video_model_key
    if sub == "omni":
        check_image_count(images, 0, options.max_images if options.max_images is not None else 3)
        return ("r2v", options.with_images_key or "") if images else ("t2v", options.video_model_key)
    if sub == "i2v_first":
        check_image_count(images, 1, 1)
        return "i2v", options.video_model_key
    if sub == "i2v_first_last":
        check_image_count(images, 2, 2)
        return "first_last", options.video_model_key
    check_image_count(images, 1, 2 if options.first_last_key else 1)
    if images == 2:
        return "first_last", options.first_last_key or options.video_model_key
    return "i2v", options.video_model_key


def submit_args(mode: str, key: str, options: VideoOptions, media: list[str], prompt: str,
                extend_media_id: str | None) -> dict[str, Any]:
    """The keyword arguments of ``FlowWebClient.submit_video`` for ``mode`` with the uploaded ``media`` ids."""
    common = {"model": key, "aspect_ratio": options.aspect_ratio, "prompt": prompt}
    if mode == "t2v":
        return {**common, "resolution": options.resolution}
    if mode == "i2v":
        return {**common, "start": media[0], "resolution": options.resolution}
    if mode == "first_last":
        return {**common, "start": media[0], "end": media[1]}
    if mode == "r2v":
        return {**common, "references": media, "resolution": options.resolution}
    return {**common, "source": str(extend_media_id)}


class FlowWebVideoProvider(ProviderBase):
    """Flow videos on flow.google.com; see :class:`flow2api.plugin.Provider`."""

    name = "flowweb-video"
    kinds = frozenset({Kind.VIDEO})
    Options = VideoOptions

    def __init__(self, context: PluginContext) -> None:
        self.family = FlowWebFamily.shared(context)

    def describe(self, options: VideoOptions) -> dict[str, Any]:
        """Capabilities for ``/v1/models``: sub_kind, aspect, resolution, duration, upscale, image counts, tier."""
        return {
            "sub_kind": options.sub_kind, "aspect_ratio": options.aspect_ratio, "resolution": options.resolution,
            "duration_seconds": options.duration_seconds, "upsample": options.upsample,
            "min_images": options.min_images, "max_images": options.max_images, "required_tier": options.required_tier,
            "upstream": "flow.google.com",
        }

    def can_serve(self, options: VideoOptions, account: AccountView) -> bool:
        """Accounts whose tier reaches ``required_tier``; in browser mode only while their browser is connected."""
        return tier_allows(account.tier, options.required_tier) and self.family.serves(account)

    async def generate(self, call: Call) -> AsyncIterator[Event]:
        """Submit and follow one video job (module docstring); raises :mod:`flow2api.errors` types only."""
        options: VideoOptions = call.job.options  # type: ignore[assignment]
        mode, key = plan(options, len(call.job.images), call.job.extend_media_id)
        if not tier_allows(call.account.view.tier, options.required_tier):
            raise PermissionDeniedError(f"This model needs an account of tier {options.required_tier}.")
        client = self.family.client(call.account, call.http)
        # spec §10: the extend and upsampler keys come from the account's HTrJv catalogue; a key its tier cannot
        # use is a 400 here, before anything is uploaded, generated or paid for
        if mode == "extend":
            key = await self.family.model_keys.extend_key(client, options)
        if options.upsample is not None:
            await self.family.model_keys.upsampler_key(client, options)
        images = [] if mode in ("t2v", "extend") else call.job.images
        if mode == "edit":  # the source video's own project, so a lost project is not replaced for an edit
            project, kwargs = await prepare_edit(self.family, call, client, options)
        else:
            project, kwargs = await self.family.project_for(call.account, client), {}
        retried = key_retried = False
        while True:
            try:
                if mode != "edit":
                    media = [await client.upload_image(project, image) for image in images]
                    kwargs = submit_args(mode, key, options, media, call.job.prompt, call.job.extend_media_id)
                seeds = Seeds.new()
                # Flow derives the new media id from the media seed (spec §3.3): stored before the submit, it lets a
                # restart ask upstream whether this submit arrived instead of paying for the video a second time.
                submitting = VideoState(project=project, media_id=seeds.media_id, workflow_id=seeds.workflow_id,
                                        stage="submitting")
                yield Submitting(resume=submitting.to_json())
                records = await client.submit_video(mode, project, seeds=seeds, **kwargs)
                break
            except ProjectGoneError as exc:  # upstream lost the project: replace it and run once more (flowkit)
                if mode == "edit" or exc.project_id != project:
                    raise
                if retried:
                    raise gone_again(exc) from exc
                retried = True
                project = await self.family.projects.replace(call.account, project, client.create_project)
            except (InvalidRequestError, PermissionDeniedError) as exc:
                # a refused extend key: the catalogue may have changed since it was read; re-read it once
                newer = None if mode != "extend" or key_retried else await self.family.model_keys.replacement(
                    exc, key, lambda: self.family.model_keys.extend_key(client, options, fresh=True))
                if newer is None:
                    raise
                key_retried, key = True, newer
        first = records[0]
        if mode == "edit" and (len(records) != 1 or first.project_id != project):
            # qzent's check (spec §14.1): credits may be spent, so this is not retried
            raise GenerationFailedError(f"Flow did not confirm the edit in project {project}; check the project "
                                        "in the web UI before resubmitting.")
        state = VideoState(project=project, media_id=first.media_id, workflow_id=first.workflow_id, stage="generate")
        yield Submitted(resume=state.to_json())
        yield Progress(f"Flow accepted the video job ({key}).", percent=5)
        async for event in self._follow(client, options, state):
            yield event

    async def resume(self, call: Call, state: Mapping[str, Any]) -> AsyncIterator[Event]:
        """Continue a job from its ``resume`` state (same account): poll, promote if due, deliver.

        From a ``submitting`` or ``promoting`` checkpoint (the process died around a submit) it first
        asks ``jwpduf`` for the id the submit would have created: found, the job is followed as if
        the reply had been read; not found, the submit is sent again (a generation from the start).
        """
        options: VideoOptions = call.job.options  # type: ignore[assignment]
        resumed = VideoState.from_json(state)  # Flow2APIError (500) for a state that is not this provider's
        client = self.family.client(call.account, call.http)
        if resumed.stage == "submitting":
            if not await self._exists(client, resumed.project, resumed.media_id):
                log.info("flowweb: the video submit did not reach Flow before the restart; submitting it again")
                async for event in self.generate(call):
                    yield event
                return
            resumed = resumed.at("generate")
            yield Submitted(resume=resumed.to_json())
        elif resumed.stage == "promoting":
            promoted = resumed.upscale_id is not None and await self._exists(client, resumed.project, resumed.upscale_id)
            resumed = resumed.at("upscale" if promoted else "generate")
            if promoted:
                yield Submitted(resume=resumed.to_json())
        async for event in self._follow(client, options, resumed):
            yield event

    @staticmethod
    async def _exists(client: FlowWebClient, project: str, media_id: str) -> bool:
        """Whether upstream knows ``media_id`` (``jwpduf`` answers no record for an id it never created)."""
        return any(record.media_id == media_id for record in await client.check_status(project, [media_id]))

    async def _follow(self, client: FlowWebClient, options: VideoOptions, state: VideoState) -> AsyncIterator[Event]:
        project, media_id = state.project, state.media_id
        final = media_id
        if state.stage == "generate":
            found: list[Record] = []
            async for event in self._poll(client, project, media_id, "video", found):
                yield event
            if options.upsample is not None and options.upsampler_key is not None:
                seed = new_uuid()
                yield Progress(f"Promoting the video to {options.upsample.rsplit('_', 1)[-1]}…", percent=70)
                upscale_id = upscaled_id(media_id, options.upsample, seed, self.family.config.upscale_output_id)
                yield Submitting(resume=state.at("promoting", upscale_id=upscale_id).to_json())
                try:
                    upsampler = await self.family.model_keys.upsampler_key(client, options)
                    project = await self._promote(
                        client, project, options, source=media_id,
                        workflow_id=found[0].workflow_id or state.workflow_id, aspect_ratio=options.aspect_ratio,
                        target=options.upsample, upsampler_key=upsampler, seed=seed,
                    )
                except ProjectLostError:
                    raise  # the video went with its project: there is no original to return either
                except Flow2APIError as exc:
                    yield Progress(f"Promotion failed ({exc.code}); returning the original video.")
                else:
                    state = state.at("upscale", upscale_id=upscale_id, project=project)
                    yield Submitted(resume=state.to_json())
        if state.stage == "upscale" and state.upscale_id is not None:
            try:
                async for event in self._poll(client, project, state.upscale_id, "promotion", []):
                    yield event
                final = state.upscale_id
            except GenerationFailedError as exc:
                yield Progress(f"Promotion failed ({exc.message}); returning the original video.")
        url = await self._video_url(client, project, final)
        yield MediaOutput(Kind.VIDEO, mime_type="video/mp4", url=url, upstream_id=final)
        with contextlib.suppress(Flow2APIError):
            credits, _, _ = await client.credits()
            yield Usage(remaining_credits=credits)

    async def _promote(self, client: FlowWebClient, project: str, options: VideoOptions, **kwargs: Any) -> str:
        """Submit the promotion (``p0UkFb``, spec §5.8) in ``project`` and return the project it went to.

        When upstream lost ``project`` nothing was accepted yet: if the source video can still be read
        (``as29s`` by its id, which names no project, §6.3) the promotion is sent once more in a new project;
        if it cannot, the video was lost with its project (:class:`ProjectLostError`, project dropped).
        """
        try:
            await self._send_promotion(client, project, options, kwargs)
            return project
        except ProjectGoneError as exc:
            if exc.project_id != project:
                raise
            gone = exc
        try:
            await client.get_media(None, kwargs["source"])
        except Flow2APIError:
            await self.family.projects.forget(client.account, project)
            raise lost_with_project(gone) from None
        project = await self.family.projects.replace(client.account, project, client.create_project)
        await self._send_promotion(client, project, options, kwargs)
        return project

    async def _send_promotion(self, client: FlowWebClient, project: str, options: VideoOptions,
                              kwargs: dict[str, Any]) -> None:
        """``p0UkFb`` with ``kwargs``; when upstream refuses the upsampler key (400/403) the account's catalogue
        is re-read once and, if it now lists another key, the promotion is sent with that one (spec §10)."""
        try:
            await client.submit_video("upscale", project, **kwargs)
            return
        except (InvalidRequestError, PermissionDeniedError) as exc:
            newer = await self.family.model_keys.replacement(
                exc, kwargs["upsampler_key"], lambda: self.family.model_keys.upsampler_key(client, options, fresh=True))
            if newer is None:
                raise
        await client.submit_video("upscale", project, **{**kwargs, "upsampler_key": newer})

    async def _poll(self, client: FlowWebClient, project: str, media_id: str, label: str,
                    found: list[Record]) -> AsyncIterator[Progress]:
        """Progress events until ``media_id`` reaches status 3 (appended to ``found``); raises on failure or timeout."""
        config = self.family.config
        polls, last = 0, None
        async with contextlib.aclosing(self.family.poller.updates(client, project, media_id)) as updates:
            async for record in updates:
                polls += 1
                status = record.status if record is not None else None
                if status == DONE:
                    found.append(record)  # type: ignore[arg-type]
                    return
                if status in FAILED_STATUSES or (status == COMPLAINT and config.status_4 == "failure"):
                    detail = record.message if record is not None and record.message else f"status {status}"
                    policy = safety_reasons(list(record.reasons)) if record is not None else []
                    if policy:  # a content filter, not a fault (the original answered 500 here, its #167)
                        raise ContentPolicyError(f"Flow refused the {label} ({', '.join(policy)}): {detail}")
                    raise GenerationFailedError(f"Flow {label} generation failed: {detail}")
                if status in _STATUS_TEXT and status != last:
                    text, percent = _STATUS_TEXT[status]
                    yield Progress(f"Flow {label} {text}…", percent=percent)
                last = status
                if polls >= config.max_poll_attempts:
                    raise UpstreamTimeoutError(f"Flow {label} did not finish within {polls} polls")

    async def _video_url(self, client: FlowWebClient, project: str, media_id: str) -> str:
        """The signed MP4 URL from ``as29s``, read until it exists (``url_wait_attempts`` tries)."""
        config = self.family.config
        for attempt in range(config.url_wait_attempts):
            record = await client.get_media(project, media_id)
            if record is not None and record.video_url:
                return record.video_url
            if attempt + 1 < config.url_wait_attempts:
                await asyncio.sleep(config.poll_interval)
        raise UpstreamTimeoutError(f"Flow gave no video URL for {media_id} after {config.url_wait_attempts} reads")
