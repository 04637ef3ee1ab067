"""What a video job needs to continue after a restart: the ``Submitted.resume`` mapping (spec §3).

A job moves through stages; each submission upstream yields a new
:class:`~flow2api.plugin.Submitted` with the state below, which the core stores
with the task and hands back to :meth:`VideoFXVideoProvider.resume
<flow2api_videofx.video.VideoFXVideoProvider.resume>`:

==========  ==================================================  ==============================
stage       polled                                              next
==========  ==================================================  ==============================
generate    ``media_name`` (T2V/I2V/R2V/omni/extend job, §2.14)  upsample, concat or result
upsample    ``media_name`` (the UpsampleVideo job, §2.15)       result (base video on failure)
concat      ``concat_operation`` (§2.20)                        result (extension on failure)
==========  ==================================================  ==============================
"""

from __future__ import annotations

from typing import Literal

from flow2api.plugin import ResumeModel

STATE_VERSION = 1


class ResumeState(ResumeModel):
    """One video job's progress, JSON-able (times in Unix seconds, ids as upstream gave them).

    ``session_id``/``batch_id`` are the §2.8 envelope values of the logical
    request; ``source_video_id`` is the extended clip's UUID; ``base_media_name``
    / ``base_video_id`` the generated video an upsample started from;
    ``extension_video_id`` the extension clip of a concatenation. Stored as
    ``to_json()`` (every field, ``None`` included) and read with ``from_json``
    (:class:`~flow2api.plugin.ResumeModel`; unknown keys are ignored).
    """

    v: int = STATE_VERSION
    stage: Literal["generate", "upsample", "concat"]
    project_id: str
    media_name: str | None = None
    session_id: str
    batch_id: str
    operation: str
    model_key: str
    aspect_ratio: str
    upsample: str | None = None
    upsampler_key: str | None = None
    source_video_id: str | None = None
    base_media_name: str | None = None
    base_video_id: str | None = None
    extension_video_id: str | None = None
    concat_operation: str | None = None

    @property
    def extend(self) -> bool:
        """Whether the job extends a clip (its result is concatenated with the source, §2.20)."""
        return self.source_video_id is not None
