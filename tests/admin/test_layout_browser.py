"""The admin site's layout in real headless Chromium at a laptop's and a phone's width (issue 19 item 10).

The landing page, the dashboard, the accounts, models, logs, tasks, API keys and security pages are opened at
1366×800 and 390×844 with three accounts whose e-mails, remarks and proxies are long, requests and tasks with a
long prompt and a long unknown model id, and an API key and an admin token with long names (made through the
pages' own forms). On every page the document must not scroll
sideways; each table must stay inside its card (at 1366 px without scrolling, on a phone by scrolling in
its own ``overflow-x: auto`` wrapper) with columns wide enough that no date is cut mid-word; at 390 px every navigation link must be on screen, not covered, and
open its page when clicked where it is drawn. Screenshots of each page land in the test's tmp dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flow2api.admin.render import NAV
from flow2api.errors import GenerationFailedError
from flow2api.testing import FAKE_IMAGE_MODEL, NEW_PASSWORD, FakeWorld, add_account
from flow2api.testing.browser import chromium  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

PAGES = {"landing": "/", "dashboard": "/admin/", "accounts": "/admin/accounts", "models": "/admin/models",
         "logs": "/admin/logs", "tasks": "/admin/tasks", "keys": "/admin/keys", "security": "/admin/security"}
VIEWPORTS = {"laptop": (1366, 800), "phone": (390, 844)}
LONG = [
    ("maximilian.alexander.von-hohenzollern-sigmaringen.operations+flow-image-pool@subsidiary.example-company.test",
     "shared with the design team for the spring campaign; ask before disabling, quota resets on the first of the month"),
    ("second.very.long.address.without.any.short.parts+account-number-two@another-long-domain-name.example.test",
     "a-remark-that-is-one-single-unbroken-token-because-someone-pasted-an-identifier-0123456789abcdef0123456789"),
    ("short@fake.test", ""),
]
PROMPT = ("a lighthouse on a basalt cliff at dusk, long exposure, waves breaking into white lace, "
          "the-beam-sweeping-across-a-sky-of-unbroken-violet-with-no-spaces-to-wrap-at-0123456789abcdef " * 3)
LONG_NAME = "nightly-render-farm-batch-exporter-for-the-marketing-department-with-a-very-long-name-0123456789"

#: Facts of the page as drawn: the document's width against the window's, each table's overhang past the
#: content box of its card (or of <main>), whether a sideways scroller holds it, each nav link's box.
LAYOUT = """() => {
  const contentRight = el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.right - parseFloat(s.borderRightWidth) - parseFloat(s.paddingRight); };
  const scroller = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return p; } return null; };
  const tables = [...document.querySelectorAll('main table')].map(t => {
    const box = t.closest('.card') || t.closest('main'), s = scroller(t);
    return {id: t.id || (t.tHead ? t.tHead.innerText.slice(0, 30) : ''),
            overhang: t.getBoundingClientRect().right - contentRight(box),
            scrolled: !!s && s.getBoundingClientRect().right <= contentRight(box) + 1};
  });
  const links = [...document.querySelectorAll('header nav a')].map(a => {
    const r = a.getBoundingClientRect(), nav = a.closest('nav').getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2, hit = document.elementFromPoint(x, y);
    return {text: a.innerText, href: a.getAttribute('href'), x, y,
            onScreen: r.width > 0 && r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight
                      && r.left >= nav.left - 0.5 && r.right <= nav.right + 0.5 && r.bottom <= nav.bottom + 0.5,
            uncovered: !!hit && hit.closest('a') === a};
  });
  // a date cell drawn on more than two lines ("2026-12-07" / "15:20:51 UTC") was squeezed mid-word
  const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
    return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; };
  const cutDates = [...document.querySelectorAll('main td')]
    .filter(td => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(td.innerText.trim()) && lines(td) > 2).length;
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, tables, links, cutDates};
}"""


async def _log_in(page: Any, url: str) -> None:
    await page.goto(f"{url}/login")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", "admin")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/admin/password")
    for field in ("current", "new", "confirm"):
        await page.fill(f"input[name={field}]", "admin" if field == "current" else NEW_PASSWORD)
    await page.click("form[action='/admin/password'] button[type=submit]")
    await page.wait_for_url(f"{url}/admin/")


async def _fill_logs_keys_and_tokens(page: Any, url: str, client: Any, fake: FakeWorld) -> None:
    """Rows for the logs, tasks, keys and security tables: two images, a failed task with a long error, a 404
    with a long model id, an API key and an admin token with long names, through the API and the pages' forms."""
    for _ in range(2):
        await client.images.generate(model=FAKE_IMAGE_MODEL, prompt=PROMPT)
    fake.image.plans.append([GenerationFailedError(f"upstream refused the job: {LONG_NAME}{LONG_NAME}")])
    with pytest.raises(Exception, match="upstream refused"):
        await client.images.generate(model=FAKE_IMAGE_MODEL, prompt=PROMPT)
    with pytest.raises(Exception, match="model"):
        await client.images.generate(model=f"no-such-model-{LONG_NAME}", prompt=PROMPT)
    await page.goto(f"{url}/admin/keys")
    await page.fill("#create-key input[name=name]", LONG_NAME)
    await page.fill("#create-key input[name=models]", ", ".join([FAKE_IMAGE_MODEL] * 6))
    await page.click("#create-key button[type=submit]")
    await page.wait_for_selector("#new-key")
    await page.goto(f"{url}/admin/security")
    await page.fill("#create-token input[name=name]", LONG_NAME)
    await page.click("#create-token button[type=submit]")
    await page.wait_for_selector("#new-token")


async def test_pages_fit_laptop_and_phone_widths(tmp_path: Path, fake: FakeWorld, chromium: Any, sdk: Any) -> None:
    gw = await fake.start(accounts=0)
    for i, (email, remark) in enumerate(LONG):
        await add_account(gw, "fake", {"token": f"layout{i}", "email": email, "tier": "PAYGATE_TIER_ONE"}, remark=remark,
                          proxy_url=f"http://proxy-{i}.with-a-rather-long-host-name.internal.example.test:3128")
    page = await chromium.new_page(viewport=dict(zip(("width", "height"), VIEWPORTS["laptop"])))
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await _log_in(page, gw.url)
    await _fill_logs_keys_and_tokens(page, gw.url, sdk(gw), fake)
    problems: list[str] = []
    for size, (width, height) in VIEWPORTS.items():
        await page.set_viewport_size({"width": width, "height": height})
        for name, path in PAGES.items():
            await page.goto(f"{gw.url}{path}")
            await page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
            facts = await page.evaluate(LAYOUT)
            if facts["scrollWidth"] > facts["innerWidth"]:
                problems.append(f"{name}@{width}: page {facts['scrollWidth']} px wide in a {facts['innerWidth']} px window")
            for t in facts["tables"]:
                if t["overhang"] > 1 and not (size == "phone" and t["scrolled"]):
                    problems.append(f"{name}@{width}: table {t['id']!r} sticks {t['overhang']:.0f} px out of its card")
            if facts["cutDates"]:
                problems.append(f"{name}@{width}: {facts['cutDates']} date cell(s) squeezed onto 3+ lines")
            if size == "phone" and path != "/":
                assert [link["href"] for link in facts["links"]] == [href for _, href, _ in NAV]
                problems += [f"{name}@{width}: nav link {link['text']!r} is not fully visible"
                             for link in facts["links"] if not (link["onScreen"] and link["uncovered"])]
    assert not problems, "\n".join(problems)

    # every nav link opens its page when clicked where it is drawn (no scrolling the bar first)
    for _, href, label in NAV:
        link = next(link for link in (await page.evaluate(LAYOUT))["links"] if link["href"] == href)
        await page.mouse.click(link["x"], link["y"])
        await page.wait_for_url(f"{gw.url}{href}")
        assert label in await page.title() or (await page.inner_text("h1")), label
    assert not errors, errors
