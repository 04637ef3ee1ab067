"""Flow image calls: upload (spec §2.5), batchGenerateImages (§2.6) and upsampleImage (§2.7), HEAD shapes."""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass

from flow2api.errors import UpstreamProtocolError
from flow2api.plugin import InputImage
from flow2api_videofx.client_base import FlowTransport, field, recaptcha_context
from flow2api_videofx.wire import TOOL, session_id


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One ``batchGenerateImages`` result: upstream media ``name`` and its signed ``fife_url`` (spec §2.6)."""

    name: str
    fife_url: str


class ImageCalls(FlowTransport):
    """The image operations; uploads are shared with video (frames, references)."""

    async def upload_image(self, project_id: str, image: InputImage) -> str:
        """``POST {api}/flow/uploadImage`` (spec §2.5, HEAD primary) → the media id for generation requests.

        ``image.mime_type`` is the sniffed type; the file name ends ``.png`` for
        PNG, else ``.jpg``. Accepts both reply forms (``media`` object or list).
        """
        ext = "png" if image.mime_type == "image/png" else "jpg"
        sid = session_id()
        body = {
            "clientContext": {"sessionId": sid, "tool": TOOL, "projectId": project_id},
            "fileName": f"flow2api_upload_{sid[1:]}.{ext}",
            "imageBytes": base64.b64encode(image.data).decode(),
            "isHidden": False,
            "isUserUploaded": True,
            "mimeType": image.mime_type,
        }
        _, _, reply = await self._call(
            "flow/uploadImage", "POST", f"{self.config.api_base_url}/flow/uploadImage", body=body, auth="at",
            timeout=self.config.timeout, referer=self.page_url(project_id), project_id=project_id,
        )
        media = field(reply, "media", "flow/uploadImage")
        if isinstance(media, list):
            media = media[0] if media else {}
        return str(field(media, "name", "flow/uploadImage"))

    async def generate_images(
        self,
        project_id: str,
        *,
        token: str,
        image_model: str,
        aspect_ratio: str,
        prompt: str,
        media_ids: list[str],
        count: int,
        sid: str,
    ) -> list[GeneratedImage]:
        """``batchGenerateImages`` (spec §2.6, HEAD body): ``count`` request items, one result each."""
        context = {"recaptchaContext": recaptcha_context(token), "sessionId": sid, "projectId": project_id, "tool": TOOL}
        requests = [
            {
                "clientContext": context,
                "seed": random.randint(1, 999_999),
                "imageModelName": image_model,
                "imageAspectRatio": aspect_ratio,
                "structuredPrompt": {"parts": [{"text": prompt}]},
                "imageInputs": [{"name": m, "imageInputType": "IMAGE_INPUT_TYPE_REFERENCE"} for m in media_ids],
            }
            for _ in range(count)
        ]
        body = {
            "clientContext": context,
            # A random UUID4 (spec §1.5 "Ids and counters"), not a secret: no system call, unlike uuid.uuid4().
            "mediaGenerationContext": {"batchId": str(uuid.UUID(int=random.getrandbits(128), version=4))},
            "useNewMedia": True,
            "requests": requests,
        }
        op = "batchGenerateImages"
        _, _, reply = await self._call(
            op, "POST", f"{self.config.api_base_url}/projects/{project_id}/flowMedia:batchGenerateImages",
            body=body, auth="at", timeout=self.config.image_request_timeout, generation=True, project_id=project_id,
        )
        media = field(reply, "media", op)
        if not isinstance(media, list) or not media:
            raise UpstreamProtocolError(f"Flow {op} returned no media (generation result empty)")
        return [
            GeneratedImage(str(field(m, "name", op)), str(field(m, "image.generatedImage.fifeUrl", op)))
            for m in media
        ]

    async def upsample_image(
        self, project_id: str, *, token: str, media_id: str, target: str, sid: str, tier: str,
    ) -> bytes:
        """``flow/upsampleImage`` (spec §2.7) with the generation's ``sid`` → the 2K/4K image bytes (JPEG)."""
        body = {
            "mediaId": media_id,
            "targetResolution": target,
            "clientContext": {
                "recaptchaContext": recaptcha_context(token), "sessionId": sid, "projectId": project_id,
                "tool": TOOL, "userPaygateTier": tier,
            },
        }
        op = "flow/upsampleImage"
        _, _, reply = await self._call(
            op, "POST", f"{self.config.api_base_url}/flow/upsampleImage", body=body, auth="at",
            timeout=self.config.image_upsample_timeout, generation=True, project_id=project_id,
        )
        encoded = field(reply, "encodedImage", op)
        try:
            return base64.b64decode(encoded, validate=True)
        except (ValueError, TypeError) as exc:
            raise UpstreamProtocolError(f"Flow {op} 'encodedImage' is not base64") from exc
