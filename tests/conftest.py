"""Core-suite names on top of the flow2api pytest plugin (:mod:`flow2api.testing`).

The fake provider family, ``make_settings``, ``Gateway``, ``start_gateway``, ``fake``, ``sdk`` and the admin
fixtures all come from :mod:`flow2api.testing`; the core's tests import no provider plugin (the tests that
need the VideoFX emulator live in plugins/videofx/tests/gateway). This module only re-exports the names
older core tests import from here.
"""

from __future__ import annotations

from flow2api.testing import API_KEY, REPO, Gateway, make_settings  # noqa: F401 - imported by core tests
