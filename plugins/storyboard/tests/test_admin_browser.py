"""The admin page "Storyboards" in real headless Chromium (Debian's package, driven by Playwright), JavaScript off:
log in, paste a story, watch the scenes fill in (the page refreshes itself), edit a prompt and regenerate, approve
all, animate a scene into a clip, download the ZIP; its contact sheet (with the clip) opened offline. Screenshots
under ``test-output/screenshots/``; the contact sheet's is also docs/storyboards-contact-sheet.png (copied there
when FLOW2API_UPDATE_DOC_SHOTS is set)."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from storyboard_helpers import STORY, Demo

from flow2api.testing import REPO

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-output" / "screenshots"
NEW_PASSWORD = "browser-test-password"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - CI installs it
    async_playwright = None


@pytest.fixture
def browser_available() -> None:
    if async_playwright is None:
        pytest.skip("the playwright package is not installed (pip install playwright; never `playwright install`)")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")


async def test_storyboards_page_without_javascript(demo: Demo, tmp_path: Path, browser_available: None) -> None:
    await demo.start(storyboard={"max_parallel": 3}, flow={"poll_interval": 0.05})  # clips take a few polls
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = demo.url
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1360, "height": 900}, java_script_enabled=False,
                                                accept_downloads=True)
            page = await context.new_page()
            page.set_default_timeout(30_000)

            async def shot(name: str) -> None:
                await page.screenshot(path=str(SHOTS / f"storyboard-{name}.png"), full_page=True)

            await page.goto(f"{url}/admin/")
            await page.fill("input[name=username]", "admin")
            await page.fill("input[name=password]", "admin")
            await page.click("button[type=submit]")
            await page.fill("input[name=current]", "admin")
            await page.fill("input[name=new]", NEW_PASSWORD)
            await page.fill("input[name=confirm]", NEW_PASSWORD)
            await page.click("form[action='/admin/password'] button[type=submit]")
            await page.wait_for_url(f"{url}/admin/")

            await page.click("nav >> text=Storyboards")
            assert page.url == f"{url}/admin/storyboards"
            await page.fill("textarea[name=story]", STORY)
            await page.fill("input[name=style]", "watercolor, muted")
            await page.select_option("select[name=size]", "1792x1024")
            await shot("01-new")
            await page.click("#new-storyboard button[type=submit]")
            await page.wait_for_url(f"{url}/admin/storyboards/sb_*")
            detail = page.url
            # the page refreshes itself (Refresh header) until every scene is done
            await page.wait_for_function("document.querySelector('#storyboard-status') !== null")
            await page.locator("#storyboard-status", has_text="ready").wait_for()
            assert await page.locator(".scene img").count() == 6
            await shot("02-ready")

            first = await page.get_attribute("#scene-2 img", "src")
            await page.fill("#scene-2 textarea[name=prompt]", "the great lamp of a lighthouse, glowing, seen from below")
            await page.click("#scene-2 button[type=submit]")
            await page.wait_for_url(detail)
            assert "is being generated again" in await page.inner_text("main")
            await page.locator("#storyboard-status", has_text="ready").wait_for()
            assert await page.get_attribute("#scene-2 img", "src") != first
            assert await page.input_value("#scene-2 textarea[name=prompt]") == (
                "the great lamp of a lighthouse, glowing, seen from below")

            await page.click("#approve-form button[name=all]")
            await page.locator("#storyboard-status", has_text="approved").wait_for()
            await shot("03-approved")

            await page.fill("#clip-0 input[name=prompt]", "the lamp's beam sweeps over the sea")
            await page.click("#clip-0 button[type=submit]")
            await page.wait_for_url(detail)
            assert "is being animated" in await page.inner_text("main")
            await page.locator("#clip-0 .clip-status", has_text="done").wait_for()  # the page refreshes itself
            assert await page.locator("#clip-0 video").count() == 1
            await shot("03-animated")
            async with page.expect_download() as waiting:
                await page.click("#download-approved")
            download = await waiting.value
            data = Path(await download.path()).read_bytes()

            archive = zipfile.ZipFile(io.BytesIO(data))
            assert len(archive.namelist()) == 9  # six images, one clip, storyboard.json, index.html
            unpacked = tmp_path / "unpacked"
            archive.extractall(unpacked)
            sheet = await context.new_page()
            await sheet.goto((unpacked / "index.html").as_uri())
            assert await sheet.locator("figure img").count() == 6
            assert await sheet.locator("figure video").count() == 1
            await sheet.screenshot(path=str(SHOTS / "storyboard-04-contact-sheet.png"), full_page=True)
            if os.environ.get("FLOW2API_UPDATE_DOC_SHOTS"):  # refresh the docs' picture on request only: a test
                # run must leave the checkout as it found it
                shutil.copy(SHOTS / "storyboard-04-contact-sheet.png", REPO / "docs" / "storyboards-contact-sheet.png")

            await page.goto(f"{url}/admin/storyboards")
            assert await page.locator("table tbody tr").count() == 1
            await shot("05-list")
        finally:
            await browser.close()
