"""What a flow.google.com video job needs to continue after a restart: its ``Submitting``/``Submitted`` state.

The provider yields one of these (as ``to_json()``) at every checkpoint; the core stores it with the
task and hands it back to :meth:`FlowWebVideoProvider.resume <flow2api_flowweb.video.FlowWebVideoProvider.resume>`:

==============  ======================================================  ====================================
stage           checkpoint                                              resume does
==============  ======================================================  ====================================
``submitting``  ``Submitting``: the media id the seed will create       ask ``jwpduf``; follow it or resubmit
``generate``    ``Submitted``: upstream accepted ``media_id``           poll, promote if due, deliver
``promoting``   ``Submitting``: ``upscale_id`` the promotion will make  ask ``jwpduf``; upscale or generate
``upscale``     ``Submitted``: the promotion ``upscale_id`` was sent    poll the upscale, deliver
==============  ======================================================  ====================================

Field names are those of the raw mappings earlier versions stored, so their rows still resume.
"""

from __future__ import annotations

from typing import Literal

from flow2api.plugin import ResumeModel

Stage = Literal["submitting", "generate", "promoting", "upscale"]


class VideoState(ResumeModel):
    """One video job's progress: ``project`` id, the generated ``media_id`` and its ``workflow_id`` (Flow's
    ids, spec ``flow-google-batchexecute.md`` §3.3), the ``stage`` above and, once a promotion is planned,
    the ``upscale_id`` it creates."""

    project: str
    media_id: str
    workflow_id: str | None = None
    stage: Stage
    upscale_id: str | None = None

    def at(self, stage: Stage, **changes: str) -> VideoState:
        """This state moved to ``stage`` (with ``changes``, e.g. ``upscale_id``)."""
        return self.model_copy(update={"stage": stage, **changes})
