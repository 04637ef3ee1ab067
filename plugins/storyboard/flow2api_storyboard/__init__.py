"""flow2api-storyboard: a story in, one approved image per scene out (issue 20; docs/storyboards.md).

A workflow plugin (entry-point group ``flow2api.workflows``, name ``storyboard``): it plans a story
into scenes (:mod:`.planner`), stores each storyboard as a row of the core's database, generates one
image per scene through the job engine's public interface (:mod:`.service`), animates approved scenes into
clips through the core's video runner (:mod:`.animate`), serves the API under
``/v1/storyboards`` (:mod:`.api`), the ZIP download (:mod:`.archive`) and the admin page
"Storyboards" (:mod:`.admin`). It imports only :mod:`flow2api.plugin` and :mod:`flow2api.errors`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

from flow2api.plugin import MountedWorkflow, PluginContext, WorkflowHost
from flow2api_storyboard.admin import StoryboardAdmin
from flow2api_storyboard.api import StoryboardApi
from flow2api_storyboard.config import SECTION, StoryboardConfig, load_config
from flow2api_storyboard.service import StoryboardService

__all__ = ["StoryboardConfig", "StoryboardService", "StoryboardWorkflow"]


class StoryboardWorkflow:
    """The workflow (:class:`flow2api.plugin.Workflow`); built once per app from the ``[storyboard]`` section."""

    name = "storyboard"
    config_sections = (SECTION,)

    def __init__(self, context: PluginContext) -> None:
        self.config = load_config(context.sections)
        self.service: StoryboardService | None = None

    def mount(self, host: WorkflowHost) -> MountedWorkflow:
        """The API routes under ``/v1/storyboards`` and the admin page ``/admin/storyboards``."""
        self.service = StoryboardService(host, self.config)
        admin = StoryboardAdmin(self.service, host.admin)
        return MountedWorkflow(api=StoryboardApi(self.service).routes(), admin=admin.routes(),
                               nav=("storyboard", "/admin/storyboards", "Storyboards"))

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Open the planner's HTTP session and take up unfinished storyboards; at stop, cancel (resumable)."""
        assert self.service is not None, "mount() first"
        async with aiohttp.ClientSession() as http:
            await self.service.start(http)
            try:
                yield
            finally:
                await self.service.close()
