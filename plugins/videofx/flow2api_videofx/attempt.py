"""One provider attempt on one account: its client, one credential refresh, fresh-token submissions (spec §1.4, §1.6).

Both providers run their upstream steps through an :class:`Attempt`:

* :meth:`Attempt.run` — a step refused with a rejected credential (401, or a
  refused AT) triggers one ST → AT refresh through the family and runs again;
  if the refresh itself is refused the ``CredentialRejectedError`` propagates
  (the pool then disables the account as "session expired").
* :meth:`Attempt.in_project` — the steps that use a project run on one of the
  account's projects (spec §5.8); when upstream no longer knows it, it is replaced
  and the steps run once more (:class:`flow2api_flowkit.projects.ProjectPool`).
* :meth:`Attempt.submit` — a generation call with a *fresh* reCAPTCHA token for
  every try; ``reCAPTCHA evaluation failed`` is retried with a new token up to
  ``[flow] max_retries`` times, then propagates as ``CaptchaError`` so the
  pipeline fails over to another account. The request's User-Agent becomes the
  solver's ``solution.userAgent`` (spec §1.6 "UA consistency").

Other errors propagate unchanged: rate limits, 5xx and timeouts are for the
pipeline (cool down / fail over), policy refusals go to the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from flow2api.errors import CaptchaError, CredentialRejectedError, InvalidRequestError
from flow2api.plugin import Call
from flow2api_flowkit.captcha_chain import TokenChain

if TYPE_CHECKING:  # pragma: no cover
    from flow2api_videofx.family import VideoFXFamily

log = logging.getLogger(__name__)

T = TypeVar("T")


def check_image_count(count: int, low: int, high: int | None) -> None:
    """400 when ``count`` input images is outside the model's ``[low, high]`` (spec §4.2 rule 4)."""
    if count < low or (high is not None and count > high):
        bound = f"{low}" if high == low else f"{low} to {high}" if high is not None else f"at least {low}"
        raise InvalidRequestError(f"This model takes {bound} input image(s); {count} given.", param="messages")


class Attempt:
    """The upstream side of one :class:`~flow2api.plugin.Call`: ``client`` carries the account's credentials."""

    def __init__(self, family: VideoFXFamily, tokens: TokenChain, call: Call) -> None:
        self.family = family
        self.tokens = tokens
        self.call = call
        self.client = family.client(call.http, call.account.view)
        self._refreshed = False

    async def refresh(self) -> None:
        """ST → AT now (once per attempt), and use the new credentials; ``CredentialRejectedError`` if the ST is dead."""
        if self._refreshed:
            raise CredentialRejectedError("the account's credentials were refused again after a refresh")
        self._refreshed = True
        await self.family.refresh(self.call.account, self.call.http)
        secrets = self.call.account.view.secrets
        self.client.use_credentials(st=secrets.get("st"), at=secrets.get("at"))

    async def run(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step``; after a ``CredentialRejectedError`` refresh once and run it again."""
        try:
            return await step()
        except CredentialRejectedError as exc:
            if self._refreshed:
                raise
            log.info("account %d: credential refused (%s); refreshing", self.call.account.view.id, exc.code)
            await self.refresh()
            return await step()

    def _create(self, title: str) -> Awaitable[str]:
        return self.run(lambda: self.client.create_project(title))

    async def in_project(self, steps: Callable[[str], Awaitable[T]]) -> tuple[str, T]:
        """``(project id, await steps(project id))``; ``ProjectGoneError`` (502) only when the replacement is gone too."""
        return await self.family.projects.run(self.call.account, self._create, steps)

    async def replace_project(self, gone: str) -> str:
        """Drop ``gone`` from the account and return the project that replaces it (created when needed)."""
        return await self.family.projects.replace(self.call.account, gone, self._create)

    async def submit(self, *, page_url: str, action: str, operation: Callable[[str], Awaitable[T]]) -> T:
        """Run ``operation(token)`` with a fresh token per try (see the module docstring for the retry rules)."""
        config = self.family.config.flow
        captcha_failures = 0
        while True:
            solved = await self.tokens.token(
                self.call.http, page_url=page_url, action=action, user_agent=self.client.user_agent,
            )
            if solved is not None and solved.user_agent:
                self.client.user_agent = solved.user_agent
            try:
                return await operation(solved.token if solved else "")
            except CaptchaError as exc:
                captcha_failures += 1
                log.warning("reCAPTCHA rejected (%d of %d tries): %s", captcha_failures, config.max_retries, exc.message)
                if captcha_failures >= config.max_retries:
                    raise
                await asyncio.sleep(config.captcha_retry_delay)
            except CredentialRejectedError:
                if self._refreshed:
                    raise
                await self.refresh()
