"""flow2api-flowweb: the flow.google.com (post-migration Flow) provider plugin.

Registers ``flowweb-image`` and ``flowweb-video`` in the ``flow2api.providers`` entry-point
group, sharing the ``flowweb`` account family (a Google cookie jar, the page bootstrap, credits
and tier, projects). Requests are Google batchexecute RPCs (``envelope``), sent by the
``http`` executor or by the MV3 browser extension (``browser``). ``flow2api_flowweb.emulator``
is a strict fake of flow.google.com for tests and demo mode. Imports only ``flow2api.plugin``
and ``flow2api.errors`` from the core (and the VideoFX plugin's reCAPTCHA token sources).
"""

from flow2api_flowweb.image import FlowWebImageProvider
from flow2api_flowweb.video import FlowWebVideoProvider

__all__ = ["FlowWebImageProvider", "FlowWebVideoProvider"]
