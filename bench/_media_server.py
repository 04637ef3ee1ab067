"""A flow2api server whose one model returns a video by URL, for ``bench/big_media.py``.

``python bench/_media_server.py PORT DATA_DIR MEDIA_URL STATS_FILE`` serves the real
application (``create_app``: every middleware, the media cache, ``/media/``)
with one benchmark provider instead of the VideoFX plugin: model
``bench-video`` yields a progress event and then ``MediaOutput(url=MEDIA_URL)``
— the shape of a provider handing over a finished upstream video — so the
pipeline streams that URL into the media cache (``MediaCache.store_url``)
and clients fetch it from ``/media/<name>``. One account of family ``bench``
is added at start-up. Listens on 127.0.0.1 only. The event-loop lag probe of
``bench/_serve.py`` writes its stats to ``STATS_FILE``; ``FLOW2API_BENCH_PATCHES``
applies patches from ``bench/_patches.py`` first.
"""

from __future__ import annotations

import sys
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from flow2api.app import create_app
from flow2api.discovery import build_providers
from flow2api.logs import configure_logging
from flow2api.plugin import (
    AccountUpdate, AccountView, Call, FamilyBase, Kind, MediaOutput, PluginContext, Progress, ProviderBase,
)
from flow2api.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _patches import apply  # noqa: E402
from _serve import probe  # noqa: E402

API_KEY = "bench-key-0123456789"
MODEL = "bench-video"


class BenchFamily(FamilyBase):
    """Accounts ``{"token": …}``; nothing to refresh."""

    name = "bench"
    config_sections: tuple[str, ...] = ()
    credential_fields = ("token",)

    async def add(self, credentials: Mapping[str, str], http: aiohttp.ClientSession) -> AccountUpdate:
        return AccountUpdate(email=f"{credentials['token']}@bench.test", secrets={"token": credentials["token"]})

    def refresh_due(self, view: AccountView, now: float) -> bool:
        return False

    async def refresh(self, account: Any, http: aiohttp.ClientSession) -> None:
        return None


class BenchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def provider_factory(url: str):  # noqa: ANN201
    family = BenchFamily()

    class BenchVideoProvider(ProviderBase):
        name = "bench-video"
        kinds = frozenset({Kind.VIDEO})
        Options = BenchOptions

        def __init__(self, context: PluginContext) -> None:
            self.family = family

        def describe(self, options: BenchOptions) -> dict[str, Any]:
            return {}

        def can_serve(self, options: BenchOptions, account: AccountView) -> bool:
            return True

        async def generate(self, call: Call) -> AsyncIterator[Any]:
            yield Progress("rendering", 50)
            yield MediaOutput(Kind.VIDEO, url=url, mime_type="video/mp4", upstream_id="bench")

    return BenchVideoProvider


def main() -> None:
    port, data, url, stats = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    apply(os.environ.get("FLOW2API_BENCH_PATCHES", ""))
    catalog = data.parent / "bench-models.yaml"
    catalog.write_text(yaml.safe_dump({"version": 1, "models": [
        {"id": MODEL, "kind": "video", "routes": [{"provider": "bench-video", "options": {}}]},
    ]}), encoding="utf-8")
    settings = Settings.model_validate({
        "global": {"api_key": API_KEY}, "storage": {"data_dir": str(data)},
        "catalog": {"path": str(catalog), "watch": False}, "generation": {"video_output": "link"},
        "logging": {"level": "WARNING"},
    })
    configure_logging("WARNING")
    providers = build_providers(settings, {"bench-video": provider_factory(url)})
    app = create_app(settings, providers=providers, demo_accounts=[("bench", {"token": "bench"})])

    async def lag_probe(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(probe(stats))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(lag_probe)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
