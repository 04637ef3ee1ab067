"""The ``flowweb-image`` provider: text-to-image and image edit with ``ogiZ0b``, upscale with ``SPrCad`` (spec §5.1, §5.2, §5.9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from flow2api.errors import Flow2APIError, PermissionDeniedError
from flow2api.plugin import (
    AccountView, Call, Event, Kind, MediaOutput, PluginContext, Progress, ProviderBase, Submitted,
)
from flow2api_flowweb.family import FlowWebFamily
from flow2api_flowweb.layouts import INPUT_BASE, INPUT_REFERENCE
from flow2api_flowweb.options import ImageOptions, check_image_count, tier_allows
from flow2api_flowweb.records import GeneratedImage


class FlowWebImageProvider(ProviderBase):
    """Flow images on flow.google.com; see :class:`flow2api.plugin.Provider`."""

    name = "flowweb-image"
    kinds = frozenset({Kind.IMAGE})
    Options = ImageOptions

    def __init__(self, context: PluginContext) -> None:
        self.family = FlowWebFamily.shared(context)

    def describe(self, options: ImageOptions) -> dict[str, Any]:
        """Capabilities for ``/v1/models``: aspect ratio, upscale target, input image counts, tier, upstream family."""
        return {
            "sub_kind": "t2i/i2i", "aspect_ratio": options.aspect_ratio, "upsample": options.upsample,
            "min_images": options.min_images, "max_images": options.max_images, "required_tier": options.required_tier,
            "upstream": "flow.google.com",
        }

    def can_serve(self, options: ImageOptions, account: AccountView) -> bool:
        """Accounts whose tier reaches ``required_tier``; in browser mode only while their browser is connected."""
        return tier_allows(account.tier, options.required_tier) and self.family.serves(account)

    async def generate(self, call: Call) -> AsyncIterator[Event]:
        """Upload inputs (maseQ), generate ``job.n`` images (ogiZ0b), optionally upscale each (SPrCad). A project
        upstream no longer knows is replaced and the upload and generation run once more (flowkit ``ProjectPool``).

        Yields one :class:`MediaOutput` per image: the signed ``flow-content`` URL (downloads
        without cookies, spec §6.5), or the upscaled JPEG bytes. An upscale that fails yields the
        1K image instead, with a progress note. Nothing is yielded before ogiZ0b succeeded; then ``Submitted``
        first (the images exist upstream and are paid for: a client that leaves no longer cancels the job).
        """
        options: ImageOptions = call.job.options  # type: ignore[assignment]
        check_image_count(len(call.job.images), options.min_images, options.max_images)
        if not tier_allows(call.account.view.tier, options.required_tier):
            raise PermissionDeniedError(f"This model needs an account of tier {options.required_tier}.")
        client = self.family.client(call.account, call.http)

        async def generate(project: str) -> list[GeneratedImage]:  # upload the inputs, then generate, in one project
            media_ids = [await client.upload_image(project, image) for image in call.job.images]
            inputs = [
                (media_id, INPUT_BASE if i == 0 and options.input_mode == "edit" else INPUT_REFERENCE)
                for i, media_id in enumerate(media_ids)
            ]
            return await client.generate_images(
                project, model=options.image_model, aspect_ratio=options.aspect_ratio, prompt=call.job.prompt,
                inputs=inputs, count=max(1, call.job.n),
            )

        project, images = await self.family.projects.run(call.account, client.create_project, generate)
        # Not resumable (an image job is answered in one call): the state only records what upstream made.
        yield Submitted(resume={"project_id": project, "media": [image.media_id for image in images]})
        yield Progress(f"Flow generated {len(images)} image(s) with {options.image_model}.", percent=80)
        for image in images:
            if options.upsample is None:
                yield MediaOutput(Kind.IMAGE, url=image.url, upstream_id=image.media_id)
                continue
            yield Progress(f"Upscaling to {options.upsample.rsplit('_', 1)[-1]}…")
            try:
                data = await client.upscale_image(project, image.media_id, options.upsample)
            except Flow2APIError as exc:
                yield Progress(f"Upscaling failed ({exc.code}); returning the 1K image.")
                yield MediaOutput(Kind.IMAGE, url=image.url, upstream_id=image.media_id)
                continue
            yield MediaOutput(Kind.IMAGE, mime_type="image/jpeg", data=data, upstream_id=image.media_id)
