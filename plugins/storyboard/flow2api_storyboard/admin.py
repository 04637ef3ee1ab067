"""The admin page "Storyboards" (``/admin/storyboards``), server-rendered and working without JavaScript.

Behind the admin login, session and CSRF check (the routes are added to the ``/admin`` sub-app); each page
is a fragment rendered here and wrapped in the admin layout by the host's :class:`~flow2api.plugin.AdminPages`.

=======  ===========================================  ==================================================
GET      /admin/storyboards                           the form (story, model, style, size, scenes) and every storyboard
POST     /admin/storyboards                           create one (owned by ``admin``) → its page
GET      /admin/storyboards/{id}                      scenes filling in (the page refreshes itself while generating,
                                                      with a ``Refresh: 2`` header: no script)
POST     /admin/storyboards/{id}/scenes/{index}       regenerate a scene with the edited prompt
POST     /admin/storyboards/{id}/scenes/{index}/animate  animate an approved scene (model, motion prompt)
POST     /admin/storyboards/{id}/approve              approve the ticked scenes (or all)
GET      /admin/storyboards/{id}/download[?scenes=]   the ZIP
POST     /admin/storyboards/{id}/delete               delete it
=======  ===========================================  ==================================================

The admin sees every key's storyboards; API keys see only their own.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from flow2api.errors import Flow2APIError
from flow2api.plugin import AdminPages, Owner
from flow2api_storyboard.api import Animate, CreateStoryboard, parse, stream_zip, validate_create, validate_video_model
from flow2api_storyboard.archive import TEMPLATES
from flow2api_storyboard.model import ANIMATING, UNFINISHED, Storyboard
from flow2api_storyboard.service import StoryboardService

ADMIN = Owner(owner="admin", name="admin")
SIZES = ("", "1792x1024", "1024x1024", "1024x1792")
PREFIX = "/admin/storyboards"


class StoryboardAdmin:
    """The page handlers over one :class:`StoryboardService` and the host's admin layout."""

    def __init__(self, service: StoryboardService, pages: AdminPages) -> None:
        self.service = service
        self.pages = pages

    async def _page(self, request: web.Request, template: str, title: str, **context: Any) -> web.Response:
        csrf = await self.pages.csrf_token(request)
        body = TEMPLATES.get_template(template).render(csrf=csrf, prefix=PREFIX, **context)
        return await self.pages.render(request, title=title, body=body)

    def _object(self, request: web.Request, board: Storyboard) -> dict[str, Any]:
        base = self.service.jobs.base_url(request)
        return board.public(lambda name: self.service.jobs.media_url(name, base))

    async def index(self, request: web.Request) -> web.Response:
        """``GET /admin/storyboards``: the create form and every storyboard, newest first (100)."""
        rows, _ = await self.service.store.page(None, limit=100)
        boards = [Storyboard.model_validate(r.data) for r in rows]
        return await self._page(request, "admin_index.html", "Storyboards", boards=boards, sizes=SIZES,
                                default_model=self.service.config.image_model)

    async def create(self, request: web.Request) -> web.StreamResponse:
        """``POST /admin/storyboards`` (form) → 303 to the new storyboard's page, or back with the error."""
        form = await request.post()
        fields: dict[str, Any] = {"story": str(form.get("story", "")),
                                  "consistent_characters": form.get("consistent_characters") == "on"}
        for name in ("style", "model", "size"):
            if str(form.get(name, "")).strip():
                fields[name] = str(form[name]).strip()
        if str(form.get("scenes", "")).strip():
            fields["scenes"] = int(form["scenes"]) if str(form["scenes"]).strip().isdigit() else -1
        try:
            parsed = parse(CreateStoryboard, fields)
            story, model = validate_create(self.service, parsed)
        except Flow2APIError as exc:
            await self.pages.flash(request, exc.message, "error")
            raise web.HTTPSeeOther(PREFIX) from None
        board = await self.service.create(ADMIN, story=story, style=parsed.style, model=model, size=parsed.size,
                                          scenes=parsed.scenes, consistent_characters=parsed.consistent_characters)
        raise web.HTTPSeeOther(f"{PREFIX}/{board.id}")

    async def detail(self, request: web.Request) -> web.Response:
        """``GET /admin/storyboards/{id}``: status, scenes (image, narration, editable prompt), actions."""
        try:
            board = await self.service.load(request.match_info["id"])
        except Flow2APIError as exc:
            await self.pages.flash(request, exc.message, "error")
            raise web.HTTPSeeOther(PREFIX) from None
        refresh = board.status in UNFINISHED or board.stored_status == ANIMATING
        page = await self._page(request, "admin_detail.html", f"Storyboard {board.id}", board=board,
                                view=self._object(request, board), refresh=refresh,
                                video_model=self.service.config.video_model)
        if refresh:  # the browser reloads the page itself (no script) until every scene is done
            page.headers["Refresh"] = "2"
        return page

    async def _act(self, request: web.Request, action: Any, done: str) -> web.StreamResponse:
        sb_id = request.match_info["id"]
        try:
            await action(sb_id, await request.post())
            await self.pages.flash(request, done)
        except Flow2APIError as exc:
            await self.pages.flash(request, exc.message, "error")
        raise web.HTTPSeeOther(f"{PREFIX}/{sb_id}")

    async def regenerate(self, request: web.Request) -> web.StreamResponse:
        """``POST …/scenes/{index}`` with ``prompt``: regenerate the scene → back to its storyboard."""
        index = int(request.match_info["index"])

        async def action(sb_id: str, form: Any) -> None:
            prompt = str(form.get("prompt", "")).strip() or None
            await self.service.regenerate(sb_id, index, prompt)

        return await self._act(request, action, f"Scene {index + 1} is being generated again.")

    async def animate(self, request: web.Request) -> web.StreamResponse:
        """``POST …/scenes/{index}/animate`` with ``model`` and ``prompt`` (both optional): queue the scene's clip."""
        index = int(request.match_info["index"])

        async def action(sb_id: str, form: Any) -> None:
            fields = parse(Animate, {name: str(form[name]).strip() for name in ("model", "prompt")
                                     if str(form.get(name, "")).strip()})
            board = await self.service.load(sb_id)
            model = validate_video_model(self.service, fields.model, board.size)
            await self.service.animator.animate(sb_id, index, model=model, prompt=fields.prompt)

        return await self._act(request, action, f"Scene {index + 1} is being animated.")

    async def approve(self, request: web.Request) -> web.StreamResponse:
        """``POST …/approve`` with ``scenes`` (ticked indexes) or ``all``."""

        async def action(sb_id: str, form: Any) -> None:
            chosen = None if form.get("all") else [int(v) for v in form.getall("scenes", []) if str(v).isdigit()]
            await self.service.approve(sb_id, chosen)

        return await self._act(request, action, "Approved.")

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET …/download[?scenes=all]``: the same ZIP as the API's."""
        board = await self.service.load(request.match_info["id"])
        try:
            return await stream_zip(request, self.service, board, everything=request.query.get("scenes") == "all")
        except Flow2APIError as exc:
            await self.pages.flash(request, exc.message, "error")
            raise web.HTTPSeeOther(f"{PREFIX}/{board.id}") from None

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """``POST …/delete``: remove the storyboard and its images → the list."""
        await self.service.delete(request.match_info["id"])
        await self.pages.flash(request, "Storyboard deleted.")
        raise web.HTTPSeeOther(PREFIX)

    def routes(self) -> list[web.RouteDef]:
        """The route table (paths relative to ``/admin``)."""
        one = "/storyboards/{id}"
        return [
            web.get("/storyboards", self.index), web.post("/storyboards", self.create), web.get(one, self.detail),
            web.post(one + "/scenes/{index:\\d+}", self.regenerate),
            web.post(one + "/scenes/{index:\\d+}/animate", self.animate), web.post(one + "/approve", self.approve),
            web.get(one + "/download", self.download), web.post(one + "/delete", self.delete),
        ]
