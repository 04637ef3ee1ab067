"""The admin layout lent to workflow plugins (:class:`flow2api.plugin.AdminPages`): their pages inside ours.

A workflow's admin routes are added to the ``/admin`` sub-app, so they run behind the same session,
CSRF check and admin login as every admin page; :class:`WorkflowAdminPages` wraps the HTML a workflow
rendered (and escaped) itself in ``templates/workflow_page.html`` (the admin layout, its navigation
entry highlighted).
"""

from __future__ import annotations

from aiohttp import web
from markupsafe import Markup

from flow2api.admin.csrf import csrf_token
from flow2api.admin.render import flash, render
from flow2api.admin.session import session_of


class WorkflowAdminPages:
    """:class:`flow2api.plugin.AdminPages` for the workflow whose navigation key is ``active``."""

    def __init__(self, active: str) -> None:
        self.active = active

    async def render(self, request: web.Request, *, title: str, body: str, status: int = 200) -> web.Response:
        """``body`` (trusted HTML: the workflow escaped what it interpolated) in the admin layout, not cached."""
        return await render(request, "workflow_page.html", {"title": title, "body": Markup(body)}, status=status,
                            active=self.active)

    async def csrf_token(self, request: web.Request) -> str:
        """The session's CSRF token (the ``_csrf`` form field the CSRF stage checks on every POST)."""
        session = await session_of(request)
        return csrf_token(session) if session is not None else ""

    async def flash(self, request: web.Request, message: str, level: str = "ok") -> None:
        """A one-time message on the next admin page (``level`` ``ok``, ``error``, ``warn``)."""
        await flash(request, message, level)
