"""The media cache: generated images and videos on disk, served under ``/media/``."""

from flow2api.media.cache import MediaCache, StoredMedia
from flow2api.media.types import extension_for, sniff_mime

__all__ = ["MediaCache", "StoredMedia", "extension_for", "sniff_mime"]
