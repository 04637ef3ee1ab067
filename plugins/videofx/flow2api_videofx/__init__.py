"""flow2api-videofx: the Google Labs Flow (VideoFX, ``labs.google/fx``) provider plugin.

Registers two providers in the ``flow2api.providers`` entry-point group,
``videofx-image`` and ``videofx-video``, sharing the ``videofx`` account family
(ST → AT, credits, projects). ``flow2api_videofx.emulator`` is a strict fake of
the upstream for tests, demo mode and benchmarks. Imports only
``flow2api.plugin`` and ``flow2api.errors`` from the core.
"""

from flow2api_videofx.image import VideoFXImageProvider
from flow2api_videofx.video import VideoFXVideoProvider

__all__ = ["VideoFXImageProvider", "VideoFXVideoProvider"]
