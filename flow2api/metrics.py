"""Prometheus metrics (``GET /metrics``, no auth, text exposition format) with ``prometheus-client``.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (never the
process-global default), so two apps in one process (tests, embedding) do not
share counts. Exposed families::

    flow2api_requests_total{surface,model,status}        HTTP requests (surface: openai, gemini, plain)
    flow2api_generation_duration_seconds{kind,outcome}   one provider attempt, histogram
    flow2api_outputs_total{kind}                         media produced
    flow2api_upstream_errors_total{error}                provider errors by class (UpstreamError subclasses)
    flow2api_in_flight{kind}                             jobs running on accounts now (image, video)
    flow2api_accounts{state}                             accounts: total, enabled, disabled, cooling_down
    flow2api_account_credits{account_id}                 credits upstream last reported
    flow2api_media_cache_bytes / _files                  media cache size
    flow2api_video_jobs{status}                          Videos API jobs queued / running in this process

Requests are counted in an ``on_response_prepare`` hook on the root app, so
every response (streams at their start, aiohttp's own 404s) is seen exactly
once with its final status; ``model`` is the catalog entry the request
resolved (empty otherwise), which keeps label values bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flow2api.media import MEDIA
from flow2api.plugin import Kind
from flow2api.pool import POOL
from flow2api.request_state import STATE

GENERATION_BUCKETS = (1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1500, float("inf"))


class Metrics:
    """The app's registry and the metrics code updates directly (counters, histogram)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "flow2api_requests", "HTTP requests by surface, resolved model and status",
            ["surface", "model", "status"], registry=self.registry,
        )
        self.generation_seconds = Histogram(
            "flow2api_generation_duration_seconds", "Duration of one provider attempt in seconds",
            ["kind", "outcome"], buckets=GENERATION_BUCKETS, registry=self.registry,
        )
        self.outputs = Counter("flow2api_outputs", "Media outputs produced", ["kind"], registry=self.registry)
        self.upstream_errors = Counter(
            "flow2api_upstream_errors", "Provider errors by class", ["error"], registry=self.registry,
        )

    def observe_generation(self, kind: str, outcome: str, seconds: float, outputs: int) -> None:
        """Record one finished attempt (``outcome`` ``succeeded``/``failed``, ``seconds`` wall time)."""
        self.generation_seconds.labels(kind, outcome).observe(seconds)
        if outputs:
            self.outputs.labels(kind).inc(outputs)

    def bind(self, app: web.Application, video_jobs: Callable[[], Mapping[str, int]] | None = None) -> None:
        """Add the collector that reads pool, media cache and (``video_jobs()``: status → count) video jobs
        at scrape time."""
        self.registry.register(_StateCollector(app, video_jobs))

    def render(self) -> bytes:
        """The text exposition of every family."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Gauges computed from live state when scraped (nothing to keep in sync)."""

    def __init__(self, app: web.Application, video_jobs: Callable[[], Mapping[str, int]] | None) -> None:
        self._app = app
        self._video_jobs = video_jobs

    def describe(self) -> list[Metric]:
        return []  # computed families; an empty describe keeps registration from calling collect early

    def collect(self) -> Iterator[Metric]:
        pool = self._app[POOL]
        in_flight = GaugeMetricFamily("flow2api_in_flight", "Jobs running on accounts now", labels=["kind"])
        records = pool.records()
        for kind in Kind:
            in_flight.add_metric([kind.value], sum(pool.in_flight(r.id, kind) for r in records))
        yield in_flight
        accounts = GaugeMetricFamily("flow2api_accounts", "Accounts by state", labels=["state"])
        for state, count in pool.counts().items():
            if state != "in_flight":
                accounts.add_metric([state], count)
        yield accounts
        credits = GaugeMetricFamily("flow2api_account_credits", "Credits upstream last reported", labels=["account_id"])
        for record in records:
            if record.credits is not None:
                credits.add_metric([str(record.id)], record.credits)
        yield credits
        media = self._app[MEDIA]
        yield GaugeMetricFamily("flow2api_media_cache_bytes", "Bytes in the media cache", value=media.total_bytes)
        yield GaugeMetricFamily("flow2api_media_cache_files", "Files in the media cache", value=len(media))
        if self._video_jobs is not None:
            jobs = GaugeMetricFamily("flow2api_video_jobs", "Videos API jobs in this process", labels=["status"])
            for status, count in self._video_jobs().items():
                jobs.add_metric([status], count)
            yield jobs


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics`` → Prometheus text format (``text/plain; version=0.0.4``); no secrets, no e-mails."""
    body = request.config_dict[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def count_response(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: count the request by surface, resolved model and status."""
    state = request.get(STATE)
    surface = state.surface if state is not None else "plain"
    model = state.entry.id if state is not None and state.entry is not None else ""
    request.config_dict[METRICS].requests.labels(surface, model, str(response.status)).inc()


def setup_metrics(app: web.Application, video_jobs: Callable[[], Mapping[str, int]] | None = None) -> None:
    """Register ``/metrics`` and the request counter on the root app (``app[METRICS]`` must be set;
    ``video_jobs`` counts the Videos API jobs by status)."""
    app[METRICS].bind(app, video_jobs)
    app.router.add_get("/metrics", metrics_endpoint)
    app.on_response_prepare.append(count_response)


METRICS: Final = web.AppKey("metrics", Metrics)
