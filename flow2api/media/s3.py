"""The S3 backend of the media store (``[cache] backend = "s3"``): results in an S3-compatible bucket.

Every instance pointed at the same bucket (and ``s3_prefix``) serves every
result under ``/media/<name>``: objects are ``<prefix><name>``, written with
``PutObject`` (small results) or a multipart upload in parts of 8 MiB (videos:
never held whole in memory), and read with ``GetObject``, ``Range`` passed
through, the body streamed to the client. The TTL is checked against an
object's ``LastModified`` on every read; :meth:`S3MediaStore.sweep` (every
``[cache] sweep_interval`` seconds, on every instance: deletes are idempotent)
lists the prefix, deletes expired objects and then the oldest written past
``max_bytes``, at most 1,000 keys per ``DeleteObjects`` call (the S3 limit).

Input images of queued Videos API jobs are ``<prefix>inputs/<task id>/<n>.<ext>``
(:mod:`flow2api.media.inputs`): not media names, so never served, expired or
capped; deleted when their job ends. The URL signing key is the object ``<prefix>.media.key`` (created once with
``If-None-Match: *``, so two instances starting together agree on one key), so
a signed link made by one instance verifies on all. Credentials come from
``[cache] s3_access_key_id`` / ``s3_secret_access_key`` or, when unset, from
botocore's standard chain (``AWS_ACCESS_KEY_ID`` …, profiles, instance roles).
Failures are ``OSError`` naming the S3 error code only, never a key or secret.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiohttp import web

from flow2api.media.cache import CHUNK_BYTES, EMPTY_SUFFIX, MediaStore, Upload, valid_name
from flow2api.media.s3_upload import MultipartUpload, error_code, s3_errors
from flow2api.media.signing import KEY_BYTES, UrlSigner
from flow2api.plugin import MediaChunks
from flow2api.settings import CacheSection

log = logging.getLogger(__name__)

DELETE_BATCH = 1000  # keys per DeleteObjects call, S3's maximum
KEY_OBJECT = ".media.key"  # not a valid media name, so the sweep never deletes it
POOL_CONNECTIONS = 50  # HTTP connections to S3 at most (botocore's max_pool_connections); a read holds one
INPUTS = "inputs/"  # input images of queued jobs: <prefix>inputs/<task id>/<n>.<ext>, not media names either
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# One range ("bytes=a-b", "a-", "-n") goes to S3 as is; a multi-range request is answered whole (RFC 9110 §14.2:
# a server may ignore Range), as S3 itself does.
_ONE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d+-\d*|-\d+)\s*$", re.IGNORECASE | re.ASCII)


class S3MediaStore(MediaStore):
    """Media in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, R2 …), from ``[cache]`` settings.

    :meth:`start` opens the client and loads the signing key (``OSError`` when the bucket is unreachable);
    :meth:`close` closes it. :attr:`total_bytes` and ``len()`` are as of the last :meth:`sweep` plus what this
    instance stored since.
    """

    backend = "s3"

    def __init__(self, section: CacheSection, *, max_connections: int = POOL_CONNECTIONS) -> None:
        super().__init__(ttl=section.timeout, max_bytes=section.max_bytes)
        self.max_connections = max_connections
        self.bucket = section.s3_bucket
        self.prefix = section.s3_prefix
        self._section = section
        self._client: Any = None
        self._exit = contextlib.AsyncExitStack()
        self._signer: UrlSigner | None = None
        self._files = 0
        self._bytes = 0

    @property
    def client(self) -> Any:
        """The open aiobotocore S3 client (after :meth:`start`)."""
        if self._client is None:
            raise OSError("media storage (S3) is not started")
        return self._client

    @property
    def signer(self) -> UrlSigner:
        """The URL signer, its key read from the bucket by :meth:`start`."""
        if self._signer is None:
            raise OSError("media storage (S3) is not started")
        return self._signer

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return self._files

    @property
    def sweeps(self) -> bool:
        return bool(self.ttl or self.max_bytes)  # the cap is enforced in the background here

    async def start(self) -> None:
        section = self._section
        secret = section.s3_secret_access_key
        key_id = section.s3_access_key_id
        options: dict[str, Any] = {
            "endpoint_url": section.s3_endpoint_url or None, "region_name": section.s3_region or None,
            # None: botocore's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles)
            "aws_access_key_id": key_id.get_secret_value() if key_id else None,
            "aws_secret_access_key": secret.get_secret_value() if secret else None,
            # path-style for a custom endpoint: MinIO and most self-hosted S3 APIs have no per-bucket DNS names
            "config": AioConfig(s3={"addressing_style": "path" if section.s3_endpoint_url else "auto"},
                                retries={"mode": "standard", "max_attempts": 3},
                                max_pool_connections=self.max_connections),
        }
        self._client = await self._exit.enter_async_context(get_session().create_client("s3", **options))
        try:
            self._signer = UrlSigner(await self._signing_key())
        except BaseException:
            await self.close()
            raise
        log.info("media storage: S3 bucket %s, prefix %r", self.bucket, self.prefix)

    async def close(self) -> None:
        await self._exit.aclose()
        self._client = None

    async def _signing_key(self) -> bytes:
        key = self.prefix + KEY_OBJECT
        for _ in range(2):
            found = await self._get(key)
            if found is not None:
                return found[0]
            with contextlib.suppress(FileExistsError):  # another instance created it first: read theirs
                await self.put_object(key, secrets.token_bytes(KEY_BYTES), "application/octet-stream", create=True)
        raise OSError("media storage (S3) could not read the signing key")

    async def _get(self, key: str) -> tuple[bytes, float] | None:
        """A whole object and its ``LastModified`` (Unix s), or ``None`` when it does not exist."""
        try:
            with s3_errors("read a media file"):
                obj = await self.client.get_object(Bucket=self.bucket, Key=key)
                async with obj["Body"] as body:
                    return await body.read(), obj["LastModified"].timestamp()
        except OSError as exc:
            if error_code(exc.__cause__ or exc) in _MISSING:
                return None
            raise

    async def put_object(self, key: str, data: bytes, mime_type: str, *, create: bool = False) -> None:
        """``PutObject``; ``create`` only if absent (``FileExistsError`` when it exists). ``OSError`` on failure."""
        extra = {"IfNoneMatch": "*"} if create else {}
        try:
            with s3_errors("store a media file"):
                await self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=mime_type, **extra)
        except OSError as exc:
            if create and error_code(exc.__cause__ or exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise FileExistsError(key) from exc
            raise

    async def _put(self, name: str, data: bytes) -> None:
        await self.put_object(self.prefix + name, data, self.mime_for(name))

    async def _begin(self, name: str, mime_type: str) -> Upload:
        return MultipartUpload(self, self.prefix + name, mime_type)

    def _input_key(self, task_id: str, name: str = "") -> str:
        return f"{self.prefix}{INPUTS}{task_id}/{name}"

    async def put_input(self, task_id: str, name: str, data: bytes) -> None:
        await self.put_object(self._input_key(task_id, name), data, self.mime_for(name))

    async def read_input(self, task_id: str, name: str) -> bytes | None:
        found = await self._get(self._input_key(task_id, name))
        return found[0] if found is not None else None  # no TTL: kept until the job ends

    async def delete_inputs(self, task_id: str) -> None:
        with s3_errors("delete input images"):
            async for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self._input_key(task_id)):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
                if keys:  # a page holds at most 1,000 keys, DeleteObjects' limit
                    await self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def _admit(self, name: str, size: int) -> None:
        self._files += 1
        self._bytes += size

    def _touch(self, name: str) -> None:
        """Nothing: the bucket's cap goes by write time (S3 keeps no last-access time)."""

    async def _head(self, name: str) -> dict[str, Any] | None:
        """``HeadObject`` of a live (unexpired) object, or ``None``."""
        try:
            with s3_errors("read a media file"):
                head = await self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        except OSError as exc:
            if error_code(exc.__cause__ or exc) in _MISSING:
                return None
            raise
        return None if self.expired(head["LastModified"].timestamp()) else head

    async def _read(self, name: str) -> bytes | None:
        found = await self._get(self.prefix + name)
        return found[0] if found is not None and not self.expired(found[1]) else None

    async def _open_chunks(self, name: str, chunk_size: int) -> MediaChunks | None:
        """``HeadObject`` now (size, TTL); the ``GetObject`` on the first chunk, its connection released when the
        chunks end or stop (:class:`MediaChunks`)."""
        head = await self._head(name)
        if head is None:
            return None
        return MediaChunks(name, head["ContentLength"], self.mime_for(name),
                           self._object_chunks(self.prefix + name, chunk_size))

    async def _object_chunks(self, key: str, chunk_size: int) -> AsyncGenerator[bytes, None]:
        with s3_errors("read a media file"):
            obj = await self.client.get_object(Bucket=self.bucket, Key=key)
            # Leaving the body's context (at the end, on an error, or on aclose() when the consumer stopped early)
            # closes the HTTP response: an unread body would otherwise keep its pool connection for good.
            async with obj["Body"] as body:
                async for chunk in body.iter_chunks(chunk_size):
                    yield chunk

    async def expiry(self, name: str) -> float | None:
        if not self.ttl or not valid_name(name):
            return None
        head = await self._head(name)
        return head["LastModified"].timestamp() + self.ttl if head else None

    async def delete(self, name: str) -> bool:
        head = await self._head(name) if valid_name(name) else None
        if head is None:
            return False
        self._drop_recent(name)
        with s3_errors("delete a media file"):
            await self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)
        self._files, self._bytes = max(0, self._files - 1), max(0, self._bytes - head["ContentLength"])
        return True

    async def _respond(
        self, request: web.BaseRequest, name: str, headers: Mapping[str, str],
    ) -> web.StreamResponse | None:
        """``GetObject`` (``HeadObject`` for HEAD) with the client's single range; the body streamed in 256 KiB."""
        wanted = request.headers.get("Range", "")
        if EMPTY_SUFFIX.match(wanted):
            return await self._unsatisfiable(name)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + name}
        if _ONE_RANGE.match(wanted):
            args["Range"] = wanted.strip()
        try:
            with s3_errors("read a media file"):
                if request.method == "HEAD":
                    obj = await self.client.head_object(**args)
                else:
                    obj = await self.client.get_object(**args)
        except OSError as exc:
            code = error_code(exc.__cause__ or exc)
            if code in _MISSING:
                return None
            if code == "InvalidRange":
                return await self._unsatisfiable(name)
            raise
        body = obj.get("Body")
        async with contextlib.AsyncExitStack() as stack:
            if body is not None:
                await stack.enter_async_context(body)
            if self.expired(obj["LastModified"].timestamp()):
                return None
            response = web.StreamResponse(status=206 if obj.get("ContentRange") else 200, headers={
                **headers, "Accept-Ranges": "bytes", "Content-Length": str(obj["ContentLength"]),
                **({"Content-Range": obj["ContentRange"]} if obj.get("ContentRange") else {}),
            })
            await response.prepare(request)
            if body is not None:
                async for chunk in _chunks(body):
                    await response.write(chunk)
            await response.write_eof()
            return response

    async def _unsatisfiable(self, name: str) -> None:
        head = await self._head(name)
        if head is None:
            return None
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{head['ContentLength']}"})

    async def sweep(self) -> int:
        """List the prefix; delete expired objects, then the oldest written past ``max_bytes``; returns the count."""
        live: list[tuple[float, str, int]] = []
        expired: list[str] = []
        with s3_errors("list media files"):
            async for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", ()):
                    name = item["Key"][len(self.prefix):]
                    if not valid_name(name):
                        continue  # the signing key, or someone else's object under the prefix
                    written = item["LastModified"].timestamp()
                    if self.expired(written):
                        expired.append(item["Key"])
                    else:
                        live.append((written, item["Key"], item["Size"]))
        total = sum(size for _, _, size in live)
        over: list[str] = []
        if self.max_bytes:
            for _, key, size in sorted(live):
                if total <= self.max_bytes or len(live) - len(over) <= 1:
                    break  # as the local cap: the newest file stays even when it alone is larger than the cap
                over.append(key)
                total -= size
        doomed = expired + over
        for start in range(0, len(doomed), DELETE_BATCH):
            batch = doomed[start:start + DELETE_BATCH]
            with s3_errors("delete media files"):
                await self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
        for key in doomed:
            self._drop_recent(key[len(self.prefix):])
        self._files, self._bytes = len(live) - len(over), total
        if doomed:
            log.info("media storage (S3): %d expired and %d over the %d-byte cap deleted", len(expired), len(over),
                     self.max_bytes)
        return len(doomed)


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    with s3_errors("read a media file"):
        async for chunk in body.iter_chunks(CHUNK_BYTES):
            yield chunk
