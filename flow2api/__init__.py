"""flow2api: an OpenAI-compatible gateway for Google Flow (VideoFX).

The core package owns the HTTP surfaces, the middleware pipeline, the account
pool, storage and the model catalog. Upstream protocols live in provider
plugins found through the ``flow2api.providers`` entry-point group; the core
never imports one by name.
"""

__version__ = "0.1.0"
