"""Flow video calls (HEAD shapes): submit (spec §2.8–2.13, §2.15), status (§2.14), inline media (§2.17),
concatenation (§2.20).

Request items (``requests[]``) are built by :mod:`flow2api_videofx.video_plan`;
this module owns the envelope and reads the replies, accepting both create
reply forms (``operations`` or ``media``/``workflows``, §2.8).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flow2api.errors import UpstreamProtocolError
from flow2api_videofx.client_base import FlowTransport, field, recaptcha_context
from flow2api_videofx.wire import TOOL

AUDIO_FAILURE_PREFERENCE = "BLOCK_SILENCED_VIDEOS"


@dataclass(frozen=True, slots=True)
class VideoHandle:
    """What a video submit returns per item: the media name and project to poll with (spec §2.8)."""

    name: str
    project_id: str


@dataclass(frozen=True, slots=True)
class Submission:
    """A create reply: one handle per request item, and ``remainingCredits`` when upstream gave it."""

    handles: list[VideoHandle]
    remaining_credits: int | None


@dataclass(frozen=True, slots=True)
class ConcatStatus:
    """A concatenation status reply (§2.20): ``status`` text, ``output_uri`` and/or base64 ``encoded_video``."""

    status: str
    output_uri: str | None
    encoded_video: str | None

    @property
    def done(self) -> bool:
        """Done when ``outputUri`` is present, or ``encodedVideo`` with a status containing ``SUCCESSFUL`` (§2.20)."""
        return bool(self.output_uri) or (bool(self.encoded_video) and "SUCCESSFUL" in self.status)

    @property
    def failed(self) -> bool:
        """Status contains ``FAILED`` or ``ERROR`` (§2.20)."""
        return "FAILED" in self.status or "ERROR" in self.status


def parse_submission(reply: Any, operation: str, project_id: str) -> Submission:
    """Read either create reply form (spec §2.8) into handles; ``UpstreamProtocolError`` naming the field.

    ``media[]`` form: ``(media.name, media.projectId)``; legacy ``operations[]``
    form: ``(operation.name, <the project submitted to>)``.
    """
    if not isinstance(reply, dict):
        raise UpstreamProtocolError(f"Flow {operation} reply is not a JSON object (upstream changed?)")
    credits = reply.get("remainingCredits")
    remaining = int(credits) if isinstance(credits, (int, float)) and not isinstance(credits, bool) else None
    if isinstance(reply.get("media"), list) and reply["media"]:
        handles = [
            VideoHandle(str(field(m, "name", operation)), str(m.get("projectId") or project_id) if isinstance(m, dict) else project_id)
            for m in reply["media"]
        ]
    elif isinstance(reply.get("operations"), list) and reply["operations"]:
        handles = [VideoHandle(str(field(o, "operation.name", operation)), project_id) for o in reply["operations"]]
    else:
        raise UpstreamProtocolError(f"Flow {operation} reply has no 'media' or 'operations' (upstream changed?)")
    return Submission(handles, remaining)


class VideoCalls(FlowTransport):
    """The video operations."""

    async def submit_video(
        self,
        operation: str,
        *,
        token: str,
        sid: str,
        batch_id: str,
        project_id: str,
        tier: str,
        requests: list[dict[str, Any]],
    ) -> Submission:
        """``POST {api}/video:<operation>`` with the §2.8 envelope around ``requests``.

        ``operation`` is ``batchAsyncGenerateVideo{Text,StartImage,StartAndEndImage,
        ReferenceImages,ExtendVideo,UpsampleVideo}``; ``sid``/``batch_id`` stay
        the same across retries of one logical request, ``token`` is fresh
        (action ``VIDEO_GENERATION``), ``tier`` is the account's
        ``userPaygateTier``. Timeout ``[flow] video_submit_timeout``.
        """
        body = {
            "mediaGenerationContext": {"batchId": batch_id, "audioFailurePreference": AUDIO_FAILURE_PREFERENCE},
            "clientContext": {
                "recaptchaContext": recaptcha_context(token), "sessionId": sid, "projectId": project_id,
                "tool": TOOL, "userPaygateTier": tier,
            },
            "requests": requests,
            "useV2ModelConfig": True,
        }
        _, _, reply = await self._call(
            operation, "POST", f"{self.config.api_base_url}/video:{operation}", body=body, auth="at",
            timeout=self.config.video_submit_timeout, generation=True, project_id=project_id,
        )
        return parse_submission(reply, operation, project_id)

    async def check_video_status(self, media: Sequence[VideoHandle]) -> list[dict[str, Any]]:
        """``batchCheckAsyncVideoGenerationStatus`` (§2.14, HEAD body) for several media at once → the status items.

        Items are returned as upstream sent them (read them with
        :func:`flow2api_videofx.polling.read_status`). Timeout ``[flow] video_poll_timeout``. When every media
        is in one project, a NOT_FOUND about it is a ``ProjectGoneError`` (the status call names the project).
        """
        op = "batchCheckAsyncVideoGenerationStatus"
        body = {"media": [{"name": m.name, "projectId": m.project_id} for m in media]}
        projects = {m.project_id for m in media}
        # A NOT_FOUND names "the project" only when one is polled; the poller splits a failed mixed batch by project.
        _, _, reply = await self._call(
            op, "POST", f"{self.config.api_base_url}/video:{op}", body=body, auth="at",
            timeout=self.config.video_poll_timeout, project_id=projects.pop() if len(projects) == 1 else None,
        )
        items = field(reply, "media", op)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise UpstreamProtocolError(f"Flow {op} reply 'media' is not a list of objects (upstream changed?)")
        return items

    async def video_bytes(self, name: str) -> bytes:
        """``GET {api}/media/<name>`` (§2.17) → the MP4 bytes decoded from ``video.encodedVideo``.

        The whole reply is read into memory (it is one JSON document); only
        used when the redirect of §2.16 gave no URL.
        """
        op = "getMedia"
        _, _, reply = await self._call(
            op, "GET", f"{self.config.api_base_url}/media/{quote(name, safe='')}", auth="at",
            timeout=self.config.media_timeout,
        )
        return decode_video(field(reply, "video.encodedVideo", op), op)

    async def concatenate(self, inputs: list[dict[str, Any]]) -> str:
        """``:runVideoFxConcatenation`` (§2.20) with ``inputVideos`` → the operation name (no reCAPTCHA)."""
        op = "runVideoFxConcatenation"
        _, _, reply = await self._call(
            op, "POST", f"{self.config.api_base_url}:{op}", body={"inputVideos": inputs}, auth="at",
            timeout=self.config.timeout,
        )
        return str(field(reply, "operation.operation.name", op))

    async def concatenation_status(self, operation_name: str) -> ConcatStatus:
        """``:runVideoFxCheckConcatenationStatus`` (§2.20) → :class:`ConcatStatus`."""
        op = "runVideoFxCheckConcatenationStatus"
        _, _, reply = await self._call(
            op, "POST", f"{self.config.api_base_url}:{op}",
            body={"operation": {"operation": {"name": operation_name}}}, auth="at", timeout=self.config.concat_timeout,
        )
        status = str(field(reply, "status", op))
        uri = reply.get("outputUri") if isinstance(reply.get("outputUri"), str) else None
        encoded = reply.get("encodedVideo") if isinstance(reply.get("encodedVideo"), str) else None
        return ConcatStatus(status, uri or None, encoded or None)


def decode_video(encoded: Any, operation: str) -> bytes:
    """Base64 (standard alphabet) → MP4 bytes; ``UpstreamProtocolError`` when it is not base64."""
    if not isinstance(encoded, str) or not encoded:
        raise UpstreamProtocolError(f"Flow {operation} 'encodedVideo' is empty (upstream changed?)")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UpstreamProtocolError(f"Flow {operation} 'encodedVideo' is not base64") from exc
