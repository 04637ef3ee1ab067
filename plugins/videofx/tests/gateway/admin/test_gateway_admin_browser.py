"""The admin site in real headless Chromium (Debian's package, driven by Playwright).

One browser session walks the operator's path: log in, get forced to change
the password, add an account (the emulator's ST typed in), create an API key,
run a generation from the playground and see the image, break the models file
and see the reload error on the Models page. A screenshot of every page is
saved under ``test-output/screenshots/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flow2api.testing.browser import ARGS, CHROMIUM, async_playwright, browser_available  # noqa: F401 - a fixture
from videofx_gateway import REPO, Upstream, make_settings

SHOTS = REPO / "test-output" / "screenshots"
MODEL = "gemini-3.1-flash-image-landscape"
NEW_PASSWORD = "browser-test-password"

pytestmark = pytest.mark.browser


async def test_operator_walkthrough_in_chromium(tmp_path: Path, upstream: Upstream, start_gateway, browser_available) -> None:
    catalog = tmp_path / "models.yaml"
    shutil.copy(REPO / "models.yaml", catalog)
    gw = await start_gateway(make_settings(tmp_path, upstream, catalog={"path": str(catalog), "watch": False}))
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            page.set_default_timeout(20_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            async def shot(name: str, *, full_page: bool = True) -> None:
                await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)

            # log in with the seeded password → forced to change it
            await page.goto(f"{gw.url}/admin/")
            assert page.url.startswith(f"{gw.url}/login")
            await shot("01-login")
            await page.fill("input[name=username]", "admin")
            await page.fill("input[name=password]", "admin")
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{gw.url}/admin/password")
            await page.goto(f"{gw.url}/admin/accounts")
            assert page.url == f"{gw.url}/admin/password"  # every page leads back here
            await shot("02-forced-password-change")
            await page.fill("input[name=current]", "admin")
            await page.fill("input[name=new]", NEW_PASSWORD)
            await page.fill("input[name=confirm]", NEW_PASSWORD)
            await page.click("form[action='/admin/password'] button[type=submit]")
            await page.wait_for_url(f"{gw.url}/admin/")
            assert "Password changed" in await page.inner_text("main")

            # add an account by typing its ST
            account = upstream.emulator.add_account("browser@example.com", tier="PAYGATE_TIER_ONE", credits=321)
            await page.goto(f"{gw.url}/admin/accounts")
            await page.fill("#add-account textarea[name=st]", account.st)
            await page.fill("#add-account input[name=remark]", "added from the browser")
            await page.click("#add-account button[type=submit]")
            await page.wait_for_url("**/admin/accounts/*")
            text = await page.inner_text("main")
            assert "browser@example.com" in text and "credits 321" in text and account.st not in await page.content()
            await shot("04-account")
            await page.goto(f"{gw.url}/admin/accounts")
            assert "browser@example.com" in await page.inner_text("table")
            await shot("03-accounts")

            # create an API key; it is shown once
            await page.goto(f"{gw.url}/admin/keys")
            await page.fill("#create-key input[name=name]", "playground")
            await page.click("#create-key button[type=submit]")
            key = await page.input_value("#new-key-value")
            assert key.startswith("sk-f2a-")
            await shot("05-api-key-created")

            # generate from the playground with that key, and see the image
            await page.goto(f"{gw.url}/admin/playground")
            await page.fill("#pg-key", key)
            await page.select_option("#pg-model", MODEL)
            await page.fill("#pg-prompt", "a paper boat on a pond")
            await page.click("#pg-run")
            await page.wait_for_function(
                "() => { const i = document.querySelector('#pg-result img');"
                " return i && i.complete && i.naturalWidth > 0 }", timeout=30_000,
            )
            assert "Done." in await page.inner_text("#pg-status")
            assert await page.inner_text("#pg-log")  # progress arrived before the image
            await shot("06-playground")
            sent = upstream.emulator.calls("batchGenerateImages")[-1].json["requests"][0]
            assert sent["structuredPrompt"]["parts"][0]["text"] == "a paper boat on a pond"

            # again with an input image (image-to-image): the result of the first run, uploaded from disk
            first_url = await page.get_attribute("#pg-result img", "src")
            picture = tmp_path / "input.png"
            picture.write_bytes(await (await page.request.get(first_url)).body())
            await page.set_input_files("#pg-image", str(picture))
            await page.fill("#pg-prompt", "the same boat, at night")
            await page.click("#pg-run")
            await page.wait_for_function(
                "(first) => { const i = document.querySelector('#pg-result img');"
                " return i && i.src !== first && i.complete && i.naturalWidth > 0 }", arg=first_url, timeout=30_000,
            )
            assert len(upstream.emulator.calls("uploadImage")) == 1

            # break the models file and press "Reload now": the error shows with its line number
            lines = catalog.read_text().splitlines()
            bad_line = next(i for i, line in enumerate(lines) if line.strip().startswith("kind:")) + 1
            lines[bad_line - 1] = lines[bad_line - 1].replace("kind:", "knd:")
            catalog.write_text("\n".join(lines) + "\n")
            await page.goto(f"{gw.url}/admin/models")
            await page.click("#reload-catalog button")
            await page.wait_for_selector("#catalog-error")
            error = await page.inner_text("#catalog-error")
            assert f"{catalog}:{bad_line}:" in error and "unknown field" in error
            await shot("07-models-reload-error", full_page=False)  # the table below is 214 rows long
            # the filter narrows the aliases as well as the models (issue 19 item 8)
            await page.fill("input[data-filter]", "omni-flash")
            visible = await page.eval_on_selector_all(
                "#models-table tbody tr:not([hidden]), #aliases-table tbody tr:not([hidden])",
                "rows => rows.map(r => r.closest('table').id + ' ' + r.cells[0].innerText)")
            assert "aliases-table omni-flash" in visible and all("omni" in row for row in visible), visible
            await page.fill("input[data-filter]", "")

            # the remaining pages, for the record
            for name, path in [("08-dashboard", "/admin/"), ("09-settings", "/admin/settings"), ("10-logs", "/admin/logs"),
                               ("11-tasks", "/admin/tasks"), ("12-security", "/admin/security"), ("13-keys", "/admin/keys")]:
                await page.goto(f"{gw.url}{path}")
                await shot(name)
            await page.goto(f"{gw.url}/admin/tasks")
            assert "a paper boat on a pond" in await page.inner_text("table")
        finally:
            await browser.close()
    assert not errors, f"browser console errors: {errors}"
