"""The ``videofx-image`` provider: text-to-image and image-to-image, with 2K/4K upsampling (spec §2.5–2.7).

Sequence per attempt: project (replaced once if upstream lost it) → upload input images → reCAPTCHA token →
``batchGenerateImages`` (``n`` request items) → optional ``upsampleImage`` per
image with the generation's sessionId. Nothing is yielded before the
generation call succeeded, so the pipeline may still fail over until then; the
first event is then ``Submitted`` (the images exist upstream and are paid for),
so a client that leaves while they are fetched or upsampled does not lose them
(the job engine finishes the job in the background, issue 21 item 6).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from flow2api.errors import Flow2APIError, PermissionDeniedError
from flow2api.plugin import (
    AccountView, Call, Event, Kind, MediaOutput, PluginContext, Progress, ProviderBase, Submitted,
)
from flow2api_videofx.attempt import Attempt, check_image_count
from flow2api_videofx.family import VideoFXFamily
from flow2api_videofx.options import ImageOptions, tier_allows
from flow2api_videofx.wire import REFERER, session_id

IMAGE_ACTION = "IMAGE_GENERATION"


class VideoFXImageProvider(ProviderBase):
    """Flow image generation (GEM_PIX_2, NARWHAL, IMAGEN_3_5); see :class:`flow2api.plugin.Provider`."""

    name = "videofx-image"
    kinds = frozenset({Kind.IMAGE})
    Options = ImageOptions

    def __init__(self, context: PluginContext) -> None:
        self.family = VideoFXFamily.shared(context)
        self.config = self.family.config
        self.tokens = self.family.tokens

    def describe(self, options: ImageOptions) -> dict[str, Any]:
        """Capabilities for ``/v1/models``: sub_kind, aspect ratio, upsample target, input image counts, tier."""
        return {
            "sub_kind": "t2i/i2i", "aspect_ratio": options.aspect_ratio, "upsample": options.upsample,
            "min_images": options.min_images, "max_images": options.max_images, "required_tier": options.required_tier,
        }

    def can_serve(self, options: ImageOptions, account: AccountView) -> bool:
        """Only accounts whose ``userPaygateTier`` reaches the model's ``required_tier``."""
        return tier_allows(account.tier, options.required_tier)

    async def generate(self, call: Call) -> AsyncIterator[Event]:
        """Generate ``job.n`` images; yields ``Submitted`` once they exist upstream, then one :class:`MediaOutput` per
        image (upstream ``fifeUrl`` or upsampled bytes)."""
        options: ImageOptions = call.job.options  # type: ignore[assignment]
        check_image_count(len(call.job.images), options.min_images, options.max_images)
        view = call.account.view
        if not tier_allows(view.tier, options.required_tier):
            raise PermissionDeniedError(f"This model needs an account of tier {options.required_tier}.")
        attempt = Attempt(self.family, self.tokens, call)
        client = attempt.client
        sid = session_id()

        async def generate(project_id: str):  # noqa: ANN202 - upload the inputs, then generate, in one project
            media_ids = [await attempt.run(lambda image=image: client.upload_image(project_id, image))
                         for image in call.job.images]

            async def operation(token: str):  # noqa: ANN202
                return await client.generate_images(
                    project_id, token=token, image_model=options.image_model, aspect_ratio=options.aspect_ratio,
                    prompt=call.job.prompt, media_ids=media_ids, count=call.job.n, sid=sid,
                )

            return await attempt.submit(page_url=client.page_url(project_id), action=IMAGE_ACTION, operation=operation)

        project_id, images = await attempt.in_project(generate)
        # Not resumable (an image job is answered in one call): the state only records what upstream made.
        yield Submitted(resume={"project_id": project_id, "media": [image.name for image in images]})
        page = client.page_url(project_id)
        yield Progress(f"Flow generated {len(images)} image(s) with {options.image_model}.", percent=80)
        if options.upsample is None:
            for image in images:
                yield MediaOutput(Kind.IMAGE, url=image.fife_url, headers={"Referer": REFERER}, upstream_id=image.name)
            return
        label = options.upsample.rsplit("_", 1)[-1]
        tier = call.account.view.tier or "PAYGATE_TIER_NOT_PAID"
        for image in images:
            yield Progress(f"Upsampling to {label}…")

            async def upsample(token: str, media_id: str = image.name) -> bytes:
                return await client.upsample_image(
                    project_id, token=token, media_id=media_id, target=options.upsample, sid=sid, tier=tier,
                )

            try:
                data = await attempt.submit(page_url=page, action=IMAGE_ACTION, operation=upsample)
            except Flow2APIError as exc:
                # Spec §2.7: when upsampling fails the original 1K image is still a result.
                yield Progress(f"Upsampling failed ({exc.code}); returning the 1K image.")
                yield MediaOutput(Kind.IMAGE, url=image.fife_url, headers={"Referer": REFERER}, upstream_id=image.name)
                continue
            yield MediaOutput(Kind.IMAGE, mime_type="image/jpeg", data=data, upstream_id=image.name)
