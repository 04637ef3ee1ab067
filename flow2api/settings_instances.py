"""The settings sections of running several instances: ``[jobs]`` (video-job leases on the shared database) and
``[coordination]`` (slots, limits, refresh locks and cool-downs on Redis). Part of :class:`flow2api.settings.Settings`;
docs/deployment.md explains both."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobsSection(_Section):
    """``[jobs]``: leases of Videos API jobs between instances on one database (docs/deployment.md), and the
    shutdown grace of paid jobs a client left (:mod:`flow2api.jobs.detached`, docs/api.md "Paid work")."""

    lease_seconds: float = Field(
        30, ge=1, le=3600, description="seconds a running job stays its instance's without renewal (renewed every "
        "third of it); past that another instance takes it over",
    )
    claim_interval: float = Field(5, gt=0, le=600, description="seconds between looks for jobs nobody holds")
    shutdown_grace: float = Field(
        30, ge=0, le=3600, description="seconds a stopping server lets paid jobs whose client left finish (their "
        "results stored); the ones still running then are failed as server_shutdown, never submitted again",
    )


class CoordinationSection(_Section):
    """``[coordination]``: where instances share slots, limits, refresh locks and cool-downs (docs/deployment.md)."""

    redis_url: SecretStr = Field(SecretStr(""), description="redis://[:password@]host:port/db; empty = this process only")
    key_prefix: str = Field("flow2api:", description="prefix of every Redis key (several gateways on one Redis)")
    hold_ttl: float = Field(30, ge=1, description="seconds a slot or concurrency holder lives unless renewed (a dead instance's expire)")
    timeout: float = Field(2, gt=0, description="seconds for one Redis command before the work is refused with 503")
    slot_poll_interval: float = Field(
        1.0, gt=0, description="seconds between looks for a slot another instance freed, the fallback of the "
                               "release notices (Redis pub/sub), which wake a waiter at once")
    max_connections: int = Field(64, ge=1, description="Redis connections per instance; more commands wait for one")
