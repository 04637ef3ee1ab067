"""The media store: generated images and videos served under ``/media/`` (see docs/media.md).

``app[MEDIA]`` is a :class:`MediaStore`; :func:`open_media_store` builds the
backend ``[cache] backend`` names — :class:`MediaCache` (a local directory) or
``S3MediaStore`` (:mod:`flow2api.media.s3`, imported only then: ``aiobotocore``
is the ``s3`` extra, ``pip install 'flow2api[s3]'``). :meth:`MediaStore.open_chunks` reads a stored file back as
:class:`~flow2api.plugin.MediaChunks` (chunks, never the whole file in memory).
"""

from pathlib import Path
from typing import Final

from aiohttp import web

from flow2api.media.cache import MediaStore, StoredMedia, valid_name
from flow2api.media.inputs import InputStore
from flow2api.media.local import MediaCache
from flow2api.media.signing import UrlSigner
from flow2api.media.types import extension_for, sniff_mime
from flow2api.settings import CacheSection, SettingsError

__all__ = [
    "InputStore",
    "MEDIA",
    "MediaCache",
    "MediaStore",
    "StoredMedia",
    "UrlSigner",
    "VIDEO_INPUTS",
    "extension_for",
    "open_media_store",
    "sniff_mime",
    "valid_name",
]

MEDIA: Final = web.AppKey("media_cache", MediaStore)
VIDEO_INPUTS: Final = web.AppKey("video_inputs", InputStore)


def open_media_store(section: CacheSection, data_dir: Path) -> MediaStore:
    """The backend of ``[cache] backend``: ``<data_dir>/media`` (key in ``<data_dir>/media.key``) or the bucket.

    Not connected yet: the app's ``media_store`` cleanup context calls :meth:`MediaStore.start`.
    Raises ``SettingsError`` for ``"s3"`` when aiobotocore is not installed.
    """
    if section.backend == "s3":
        try:
            from flow2api.media.s3 import S3MediaStore  # the s3 extra: only a deployment using it needs botocore
        except ImportError as exc:
            raise SettingsError(
                "[cache] backend = \"s3\" needs aiobotocore: pip install 'flow2api[s3]'") from exc
        return S3MediaStore(section)
    return MediaCache(data_dir / "media", ttl=section.timeout, max_bytes=section.max_bytes,
                      key_file=data_dir / "media.key")
