"""Emulator machinery both Flow emulators share (labs.google in flow2api-videofx, flow.google.com in flow2api-flowweb).

* :mod:`.faults` — :class:`MatchingRule` and :class:`FaultInjector`: fault rules and who fires them.
* :mod:`.render` — deterministic Pillow images, upload inspection and the two bundled MP4s.
"""

from .faults import FaultInjector, MatchingRule
from .render import (fit_long_edge, inspect_upload, mean_color, render_jpeg, render_png, sniff_mime,
                     video_asset)

__all__ = ["FaultInjector", "MatchingRule", "fit_long_edge", "inspect_upload", "mean_color", "render_jpeg",
           "render_png", "sniff_mime", "video_asset"]
