"""The media cache: generated images and videos on disk, served under ``/media/`` (see docs/media.md)."""

from typing import Final

from aiohttp import web

from flow2api.media.cache import MediaCache, StoredMedia, valid_name
from flow2api.media.inputs import InputStore
from flow2api.media.signing import UrlSigner
from flow2api.media.types import extension_for, sniff_mime

__all__ = [
    "InputStore",
    "MEDIA",
    "MediaCache",
    "StoredMedia",
    "UrlSigner",
    "VIDEO_INPUTS",
    "extension_for",
    "sniff_mime",
    "valid_name",
]

MEDIA: Final = web.AppKey("media_cache", MediaCache)
VIDEO_INPUTS: Final = web.AppKey("video_inputs", InputStore)
