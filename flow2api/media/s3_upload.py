"""What the S3 backend (:mod:`flow2api.media.s3`) shares with its writer: S3 failures as ``OSError``, and the
multipart upload of a big result (parts of 8 MiB, never the whole file in memory).

Split from :mod:`flow2api.media.s3` to keep each module to one concern; imported only with it (aiobotocore is the
``s3`` extra).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from flow2api.media.cache import Upload

if TYPE_CHECKING:
    from flow2api.media.s3 import S3MediaStore

log = logging.getLogger(__name__)

PART_BYTES = 8 * 1024 * 1024  # multipart part size: S3 wants ≥ 5 MiB for every part but the last
S3_ERRORS = (ClientError, BotoCoreError, aiohttp.ClientError)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a ``ClientError`` (``NoSuchKey``, ``InvalidRange`` …), else the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


@contextlib.contextmanager
def s3_errors(action: str) -> Iterator[None]:
    """S3 and connection failures → ``OSError`` with the S3 error code only (no key, URL or credential)."""
    try:
        yield
    except S3_ERRORS as exc:
        raise OSError(f"media storage (S3) could not {action}: {error_code(exc)}") from exc


class MultipartUpload(Upload):
    """A big result: buffered up to :data:`PART_BYTES`, then sent as parts; one ``PutObject`` if it stays smaller."""

    def __init__(self, store: S3MediaStore, key: str, mime_type: str) -> None:
        self._store, self._key, self._mime = store, key, mime_type
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= PART_BYTES:
            await self._send_part()

    async def _send_part(self) -> None:
        client, bucket = self._store.client, self._store.bucket
        with s3_errors("store a media file"):
            if self._upload_id is None:
                started = await client.create_multipart_upload(Bucket=bucket, Key=self._key, ContentType=self._mime)
                self._upload_id = started["UploadId"]
            number = len(self._parts) + 1
            sent = await client.upload_part(
                Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer))
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})
        self._buffer = bytearray()

    async def finish(self) -> None:
        if self._upload_id is None:
            await self._store.put_object(self._key, bytes(self._buffer), self._mime)
            return
        if self._buffer:
            await self._send_part()
        with s3_errors("store a media file"):
            await self._store.client.complete_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts})

    async def abort(self) -> None:
        if self._upload_id is None:
            return
        try:
            await self._store.client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id)
        except S3_ERRORS as exc:  # the bucket's lifecycle rule cleans up
            log.warning("media storage (S3): an unfinished upload could not be aborted: %s", error_code(exc))
