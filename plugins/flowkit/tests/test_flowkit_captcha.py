"""The shared reCAPTCHA chain on its own: the registry, the settings check and the failover order.

The solver wire protocol (``AntiCaptchaApi`` against an anti-captcha server) is exercised by both
families' tests against their emulators' solvers; these tests need only this distribution.
"""

from __future__ import annotations

import subprocess
import sys

import aiohttp
import pytest

from flow2api.errors import CaptchaError, SolverUnavailableError
from flow2api_flowkit.captcha import CaptchaToken
from flow2api_flowkit.captcha_chain import BUILTIN_SOURCES, TokenChain, captcha_problems, installed_sources
from flow2api_flowkit.config import CaptchaConfig, parse_section


class Source:
    """A token source that answers ``token`` or raises ``error``, counting its solves."""

    def __init__(self, name: str, token: str | None = None, error: CaptchaError | None = None) -> None:
        self.name, self.token, self.error, self.solves = name, token, error, 0

    async def solve(self, http: aiohttp.ClientSession, *, page_url: str, action: str, user_agent: str) -> CaptchaToken | None:
        self.solves += 1
        if self.error is not None:
            raise self.error
        return CaptchaToken(self.token or "", None)


def test_the_builtin_sources_are_installed_and_registered_as_entry_points() -> None:
    from importlib.metadata import entry_points

    assert set(BUILTIN_SOURCES) <= set(installed_sources())
    assert {ep.name for ep in entry_points(group="flow2api.captcha")} >= set(BUILTIN_SOURCES)


def test_captcha_problems_names_the_section_the_unknown_source_and_the_stray_key() -> None:
    config = CaptchaConfig(captcha_method="nosuch", fallback_methods=["none"], mysolver_key="x", stray=1)
    problems = captcha_problems("flowweb_captcha", config, [*BUILTIN_SOURCES, "mysolver"])
    assert problems == [
        "[flowweb_captcha] captcha_method: unknown token source 'nosuch' "
        "(installed: capmonster, capsolver, ezcaptcha, mysolver, none, yescaptcha)",
        "[flowweb_captcha] stray: unknown key",
    ]
    assert config.source_settings("mysolver") == {"key": "x"}
    assert captcha_problems("captcha", CaptchaConfig(), BUILTIN_SOURCES) == []


def test_parse_section_lists_every_problem_with_section_and_key() -> None:
    problems: list[str] = []
    assert parse_section("captcha", CaptchaConfig, {"solver_max_polls": 0}, problems) is None
    assert problems == ["[captcha] solver_max_polls: Input should be greater than or equal to 1"]
    assert parse_section("captcha", CaptchaConfig, {"captcha_method": "none"}, problems).captcha_method == "none"


def test_a_source_with_incomplete_settings_is_left_out_of_the_chain() -> None:
    chain = TokenChain.from_config(CaptchaConfig(captcha_method="capsolver", fallback_methods=["none"]))
    assert [s.name for s in chain.sources] == ["none"]  # capsolver has no API key


async def test_the_chain_moves_to_the_next_source_and_says_why_each_failed() -> None:
    broken = Source("broken", error=SolverUnavailableError("the broken solver has no free slot"))
    good = Source("good", token="tok")
    async with aiohttp.ClientSession() as http:
        token = await TokenChain([broken, good]).token(http, page_url="p", action="IMAGE_GENERATION", user_agent="ua")
        assert token == CaptchaToken("tok", None) and (broken.solves, good.solves) == (1, 1)
        with pytest.raises(SolverUnavailableError, match="no free slot"):  # every failure transient: transient
            await TokenChain([broken]).token(http, page_url="p", action="VIDEO_GENERATION", user_agent="ua")
        refused = Source("refused", error=CaptchaError("the refused solver refused the task: ERROR_ZERO_BALANCE"))
        with pytest.raises(CaptchaError) as raised:
            await TokenChain([broken, refused]).token(http, page_url="p", action="VIDEO_GENERATION", user_agent="ua")
        assert not isinstance(raised.value, SolverUnavailableError) and "ERROR_ZERO_BALANCE" in raised.value.message
        with pytest.raises(CaptchaError, match="no reCAPTCHA source is configured"):
            await TokenChain([]).token(http, page_url="p", action="IMAGE_GENERATION", user_agent="ua")


def test_flowkit_imports_neither_family() -> None:
    code = ("import sys, flow2api_flowkit, flow2api_flowkit.emulator\n"
            "assert not [n for n in sys.modules if n.startswith(('flow2api_videofx', 'flow2api_flowweb'))]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
