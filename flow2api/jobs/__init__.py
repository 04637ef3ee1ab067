"""The job engine (outside the HTTP surfaces): task rows, leased attempts with failover, the commit point,
checkpoints, media caching, credits, usage and metrics. See :mod:`flow2api.jobs.engine`."""

from flow2api.jobs.engine import Collaborators, JobEngine, JobSpec, NewRow
from flow2api.jobs.events import Accepted, JobEvent, Result, events_from
from flow2api.jobs.urls import media_name_from_url, media_url, public_base_url

__all__ = [
    "Accepted", "Collaborators", "JobEngine", "JobEvent", "JobSpec", "NewRow", "Result", "events_from",
    "media_name_from_url", "media_url", "public_base_url",
]
