"""The flowweb client: one method per RPC the providers use, through one executor (spec §4–§7).

Every call goes ``Layout`` (arguments) → :class:`~flow2api_flowweb.executors.Prepared` →
executor → :func:`~flow2api_flowweb.envelope.parse_reply` → ``payload_of`` (typed errors) →
:mod:`~flow2api_flowweb.records` (typed results). Two retries live here, both bounded:

* an XSRF challenge (HTTP 400 + ``["xsrf", token]``, spec §2.5) is answered once with the new
  token: the challenge means the request was refused before it ran, so repeating it (reads and
  writes alike) cannot duplicate work. A second challenge means the session is dead.
* NOT_FOUND (``[5]``) on an RPC sent from a project: the project page is loaded; when it
  redirects to ``/404?reason=project`` (spec §1) the project is gone and the error becomes a
  :class:`~flow2api_flowkit.projects.ProjectGoneError` (the providers replace the project and
  retry once); otherwise the NOT_FOUND stands.
* ``PUBLIC_ERROR_UNUSUAL_ACTIVITY`` on a generation RPC is retried with a fresh token up to
  ``[flowweb] captcha_attempts`` times (tokens are single use, spec §8); then the
  ``CaptchaError`` goes to the pipeline, which tries another account.
"""

from __future__ import annotations

import base64
import logging
import random
from typing import Any

import aiohttp

from flow2api.errors import CaptchaError, CredentialRejectedError, Flow2APIError, NotFoundError
from flow2api.plugin import AccountSession, AccountUpdate, InputImage
from flow2api_flowkit.projects import ProjectGoneError
from flow2api_flowkit.wording import PROJECT_GONE_HINT, XSRF_HINT
from flow2api_flowweb.bootstrap import fetch_page
from flow2api_flowweb.catalogue import Catalogue, parse_catalogue
from flow2api_flowweb.config import FlowWebConfig
from flow2api_flowweb.cookies import dump_jar, load_jar
from flow2api_flowweb.envelope import RpcRequest, XsrfChallenge, parse_reply, payload_of
from flow2api_flowweb.statuses import RpcNotFoundError
from flow2api_flowweb.executors import Executor, Prepared
from flow2api_flowweb.layouts import Layout
from flow2api_flowweb.records import (
    GeneratedImage,
    Record,
    credits_and_tier,
    find_records,
    generated_images,
    project_id,
    submitted_records,
    uploaded_media_id,
    upscaled_image,
)
from flow2api_flowweb.rpcs import failure

log = logging.getLogger(__name__)

IMAGE_ACTION = "IMAGE_GENERATION"
VIDEO_ACTION = "VIDEO_GENERATION"
#: Video submit RPC per generation mode (spec §4).
VIDEO_RPCS = {"t2v": "YhhmEf", "i2v": "eb1hJf", "first_last": "nprQif", "r2v": "MZZa6b", "extend": "fZytfe",
              "upscale": "p0UkFb", "edit": "jIps6"}


class FlowWebClient:
    """RPCs of one account (``account``) over ``http`` through ``executor``."""

    def __init__(self, config: FlowWebConfig, layout: Layout, account: AccountSession, http: aiohttp.ClientSession,
                 executor: Executor) -> None:
        self.config = config
        self.layout = layout
        self.account = account
        self.http = http
        self.executor = executor

    async def call(
        self, rpcid: str, args: Any, *, source_path: str | None, project_id: str | None = None,
        action: str | None = None, timeout: float | None = None,
    ) -> Any:
        """Run one RPC and return its decoded payload; raises :mod:`flow2api.errors` types (see module doc)."""
        prepared = Prepared(RpcRequest(rpcid, args, source_path), project_id, action)
        timeout = timeout or (self.config.write_timeout if action else self.config.control_timeout)
        xsrf: str | None = None
        captcha_left = self.config.captcha_attempts if action else 1
        while True:
            raw = await self.executor.execute(self.account, self.http, prepared, xsrf=xsrf, timeout=timeout)
            reply = parse_reply(raw.status, raw.text)
            try:
                return payload_of(reply, rpcid, retry_after=raw.retry_after)
            except XsrfChallenge as challenge:
                if xsrf is not None or not challenge.token:
                    raise CredentialRejectedError(failure(rpcid, "XSRF challenge", XSRF_HINT)) from None
                log.info("flowweb %s: XSRF challenge, repeating with the new token", rpcid)
                xsrf = challenge.token
            except RpcNotFoundError:
                if project_id is not None and await self.project_gone(project_id):
                    raise ProjectGoneError(failure(rpcid, "NOT_FOUND", PROJECT_GONE_HINT, what="could not find the project",
                                                   detail=f"project {project_id}"), project_id=project_id) from None
                raise
            except CaptchaError:
                captcha_left -= 1
                if captcha_left <= 0:
                    raise
                log.info("flowweb %s: unusual activity, retrying with a fresh reCAPTCHA token", rpcid)

    async def project_gone(self, project: str) -> bool:
        """Whether ``/project/<project>`` redirects to ``/404?reason=project`` (spec §1); False when the page loads
        or cannot be read (then nothing is known about the project)."""
        jar = load_jar(self.account.view.secrets.get("cookies", ""))
        try:
            _, rotated = await fetch_page(self.http, self.config, jar, self._page(project))
        except NotFoundError:
            return True
        except Flow2APIError as exc:
            log.info("flowweb: the page of project %s could not be read (%s)", project, exc.code)
            return False
        if rotated:  # the page load set cookies (as a browser's would): keep them
            await self.account.save(AccountUpdate(secrets={"cookies": dump_jar(jar)}))
        return False

    @staticmethod
    def _page(project: str) -> str:
        return f"/project/{project}"

    # -- project and account (spec §7) ---------------------------------------------------------------------

    async def create_project(self, title: str) -> str:
        """``jHPbke`` → the new project id."""
        payload = await self.call("jHPbke", self.layout.create_project(title), source_path="/")
        return project_id(payload)

    async def credits(self) -> tuple[int | None, str, int | None]:
        """``nzlxg`` → (credits, paygate tier name, service tier)."""
        return credits_and_tier(await self.call("nzlxg", self.layout.credits(), source_path="/"))

    async def model_catalogue(self) -> Catalogue:
        """``HTrJv`` (``[]``, no reCAPTCHA token, spec §7, §8) → the model families and usages
        (:mod:`~flow2api_flowweb.catalogue`); callers cache it (:mod:`~flow2api_flowweb.model_keys`)."""
        return parse_catalogue(await self.call("HTrJv", self.layout.model_catalogue(), source_path="/"))

    # -- images (spec §5.1, §5.2, §5.9) --------------------------------------------------------------------

    async def upload_image(self, project: str, image: InputImage) -> str:
        """``maseQ`` → the media id of the uploaded image (account- and project-scoped, spec §5.2)."""
        ext = {"image/png": "png", "image/webp": "webp", "image/gif": "gif"}.get(image.mime_type, "jpg")
        args = self.layout.upload_image(project, base64.b64encode(image.data).decode(), image.mime_type,
                                        f"flow2api_{random.randint(10**8, 10**9 - 1)}.{ext}")
        payload = await self.call("maseQ", args, source_path=self._page(project), project_id=project,
                                  action=self.config.upload_captcha_action)
        return uploaded_media_id(payload)

    async def generate_images(
        self, project: str, *, model: str, aspect_ratio: str, prompt: str, inputs: list[tuple[str, int]], count: int,
    ) -> list[GeneratedImage]:
        """``ogiZ0b``: ``count`` items, synchronous (held open 20–40 s) → one :class:`GeneratedImage` each."""
        args = self.layout.generate_images(project, model=model, aspect_ratio=aspect_ratio, prompt=prompt,
                                           inputs=inputs, count=count, seed=random.randint(1, 999_999))
        payload = await self.call("ogiZ0b", args, source_path=self._page(project), project_id=project,
                                  action=IMAGE_ACTION)
        return generated_images(payload)

    async def upscale_image(self, project: str, media_id: str, target: str) -> bytes:
        """``SPrCad`` → JPEG bytes of the 2K/4K image (inline, synchronous)."""
        payload = await self.call("SPrCad", self.layout.upscale_image(media_id, target),
                                  source_path=self._page(project), project_id=project, action=IMAGE_ACTION)
        return upscaled_image(payload)

    # -- videos (spec §5.3–§5.8, §6) -----------------------------------------------------------------------

    async def submit_video(self, mode: str, project: str, **kwargs: Any) -> list[Record]:
        """Submit a video job; ``mode`` in :data:`VIDEO_RPCS`, ``kwargs`` those of the matching ``Layout`` builder."""
        builders = {
            "t2v": self.layout.text_to_video, "i2v": self.layout.start_image_to_video,
            "first_last": self.layout.first_last_to_video, "r2v": self.layout.references_to_video,
            "extend": self.layout.extend_video, "upscale": self.layout.upscale_video, "edit": self.layout.edit_video,
        }
        rpcid = VIDEO_RPCS[mode]
        payload = await self.call(rpcid, builders[mode](project, **kwargs), source_path=self._page(project),
                                  project_id=project, action=VIDEO_ACTION)
        return submitted_records(payload, rpcid)

    async def check_status(self, project: str | None, media_ids: list[str]) -> list[Record]:
        """``jwpduf`` for several media ids in one call (spec §6.1)."""
        payload = await self.call("jwpduf", self.layout.check_status(media_ids),
                                  source_path=self._page(project) if project else None)
        return find_records(payload)

    async def get_media(self, project: str | None, media_id: str) -> Record | None:
        """``as29s`` → the media record, or ``None`` while only the bare id comes back (spec §6.3)."""
        payload = await self.call("as29s", self.layout.get_media(media_id),
                                  source_path=self._page(project) if project else "/")
        records = [r for r in find_records(payload) if r.media_id == media_id] or find_records(payload)
        return records[0] if records else None

