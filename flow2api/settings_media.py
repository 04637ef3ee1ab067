"""The settings sections of what a request brings in and what it hands out: ``[inputs]`` (how client-given image
URLs are fetched) and ``[cache]`` (where results are stored and served under ``/media/``). Part of
:class:`flow2api.settings.Settings`, which re-exports both (kept apart so that module stays small); docs/deployment.md
explains the S3 backend."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CacheSection(_Section):
    """``[cache]``: the media cache that serves results under ``/media/``."""

    timeout: float = Field(7200, ge=0, description="seconds a cached file is kept; 0 keeps forever")
    base_url: str = Field("", description="public base URL for media links; empty = derived from the request")
    max_bytes: int = Field(0, ge=0, description="size cap of the cache in bytes; 0 = no cap")
    sign_urls: bool = Field(False, description="media URLs carry an HMAC signature and expiry (?expires=&sig=)")
    signed_url_ttl: float = Field(
        0, ge=0, description="seconds a signed media URL stays valid; 0 = as long as the file ([cache] timeout)"
    )
    backend: Literal["local", "s3"] = Field(
        "local", description="where results are stored: the data directory's media/ or an S3-compatible bucket"
    )
    sweep_interval: float = Field(300, gt=0, description="seconds between sweeps deleting expired (S3: and over-cap) files")
    s3_endpoint_url: str = Field("", description="S3 API endpoint (MinIO, R2 …); empty = AWS S3 of s3_region")
    s3_bucket: str = Field("", description="bucket of the s3 backend (must exist)")
    s3_region: str = Field("", description="bucket region; empty = botocore's default (AWS_DEFAULT_REGION …)")
    s3_prefix: str = Field("media/", description="key prefix of the media objects in the bucket")
    s3_access_key_id: SecretStr | None = Field(None, description="empty = the standard AWS environment/credential chain")
    s3_secret_access_key: SecretStr | None = Field(None, description="empty = the standard AWS environment/credential chain")

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> CacheSection:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("[cache] backend = \"s3\" needs s3_bucket")
        return self


class InputsSection(_Section):
    """``[inputs]``: how client-given image URLs are fetched (:mod:`flow2api.fetcher`)."""

    allow_networks: list[str] = Field(
        default_factory=list, description="networks (CIDR) image URLs may reach besides public addresses"
    )
    use_proxy: bool = Field(False, description="fetch image URLs through the [proxy] proxy instead of directly")
    fetch_timeout: float = Field(30, gt=0, description="seconds for one image URL, redirects included")
    max_request_bytes: int = Field(
        48 * 1024 * 1024, ge=1024, description="decoded input images of one request together, bytes (413 past it)"
    )

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"not a network in CIDR form: {value!r}") from None
        return values
