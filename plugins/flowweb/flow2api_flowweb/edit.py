"""What a ``jIps6`` video edit needs before its submit: the source, its project and frames, the references (spec §14.1).

The source is either a clip of the account (``Job.extend_media_id``: a finished video's media id, or one
uploaded before) or a video of the user's own, the job's first input with a ``video/*`` MIME type, which is
uploaded first with the resumable protocol (:mod:`~flow2api_flowweb.upload`). Like qzent, the edit is
submitted into the **source's project** (``as29s`` RECORD[1]) and the source must be what ``as29s`` names;
the reference image (0–1) is uploaded into that project with ``maseQ``. Frames: the whole clip at 24 fps,
``0 … round(seconds × 24)`` (the spec's safe choice: the 24/30 fps unit is disputed, §13).
"""

from __future__ import annotations

from typing import Any

from flow2api.errors import GenerationFailedError, InvalidRequestError
from flow2api.plugin import Call
from flow2api_flowweb.client import FlowWebClient
from flow2api_flowweb.options import VideoOptions, check_image_count
from flow2api_flowweb.upload import check_video, upload_video

FPS = 24
#: The UI's default clip when a source's length is not in its record (the 8 s of every base model).
DEFAULT_SECONDS = 8.0


def is_video(mime_type: str) -> bool:
    """Whether an input of the job is the user's video rather than a reference image."""
    return mime_type.startswith("video/")


async def prepare_edit(family: Any, call: Call, client: FlowWebClient, options: VideoOptions) -> tuple[str, dict[str, Any]]:
    """(project, ``Layout.edit_video`` keyword arguments) for ``call``; 400 for a job without a usable source.

    ``family`` is the :class:`~flow2api_flowweb.family.FlowWebFamily` (its config and project choice).
    """
    job = call.job
    inputs = list(job.images)
    user_video = inputs.pop(0) if inputs and is_video(inputs[0].mime_type) else None
    if any(is_video(i.mime_type) for i in inputs):
        raise InvalidRequestError("An edit takes one source video; the other inputs must be images.", param="video")
    check_image_count(len(inputs), 0, options.max_images if options.max_images is not None else 1)
    if user_video is not None:
        seconds = check_video(family.config, user_video.data, user_video.mime_type)
        project = await family.project_for(call.account, client)
        uploaded = await upload_video(family.config, call.account, call.http, project, user_video.data,
                                      user_video.mime_type)
        source = uploaded.media_id
    elif job.extend_media_id:
        source = job.extend_media_id
        try:
            record = await client.get_media(None, source)
        except GenerationFailedError:  # as29s NOT_FOUND: not a media of this account
            record = None
        if record is None or record.media_id != source or not record.project_id:
            raise InvalidRequestError(f"Flow does not know the source video {source} for this account.", param="video")
        if record.duration is not None and record.duration > family.config.max_edit_seconds:
            raise InvalidRequestError(f"The source video is {record.duration:g} s long; edits take at most "
                                      f"{family.config.max_edit_seconds:g} s.", param="video")
        project, seconds = record.project_id, record.duration
    else:
        raise InvalidRequestError("An edit needs a source video: a video id of ours or an uploaded file.", param="video")
    references = [await client.upload_image(project, image) for image in inputs]
    end = max(1, round((seconds or DEFAULT_SECONDS) * FPS))
    return project, {"model": options.video_model_key, "aspect_ratio": options.aspect_ratio, "prompt": job.prompt,
                     "source": source, "start_frame": 0, "end_frame": end, "references": references,
                     "resolution": options.resolution}
