"""Models page (catalog table, Reload now, the last reload error with line numbers), logs and tasks pages."""

from __future__ import annotations

import shutil
from pathlib import Path

import openai
from openai import AsyncOpenAI, NotFoundError

from flow2api.errors import ContentPolicyError, GenerationFailedError

from flow2api.testing import API_KEY, AdminClient, AdminSite, FakeWorld
from flow2api.testing import FAKE_IMAGE_MODEL as MODEL


async def test_models_page_reload_and_reload_error(tmp_path: Path, fake: FakeWorld) -> None:
    catalog = tmp_path / "models.yaml"
    shutil.copy(fake.catalog, catalog)
    gw = await fake.start(catalog={"path": str(catalog), "watch": False})
    client = AdminClient(gw.url)
    try:
        await client.login()
        await client.change_password()
        status, text, _ = await client.get("/admin/models")
        assert status == 200 and f"<code>{MODEL}</code>" in text and "fake-image" in text
        assert "portrait" in text and "Reload error" not in text  # a route's described options
        lines = catalog.read_text().splitlines()
        bad_line = next(i for i, line in enumerate(lines) if line.strip().startswith("kind:")) + 1
        lines[bad_line - 1] = lines[bad_line - 1].replace("kind:", "knd:")
        catalog.write_text("\n".join(lines) + "\n")
        _, text, _ = await client.post("/admin/models/reload", {})
        assert "Reload failed" in text and "Reload error" in text
        assert f"{catalog}:{bad_line}:" in text and "unknown field" in text
        assert f"<code>{MODEL}</code>" in text  # the running catalog stays
        _, dashboard, _ = await client.get("/admin/")
        assert f"{catalog}:{bad_line}:" in dashboard
        shutil.copy(fake.catalog, catalog)
        _, text, _ = await client.post("/admin/models/reload", {})
        assert "Catalog reloaded" in text and "Reload error" not in text
    finally:
        await client.close()


async def test_logs_and_tasks_show_requests_and_results(admin: AdminSite) -> None:
    sdk = AsyncOpenAI(base_url=f"{admin.url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    await sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a red kite over hills"}])
    try:
        await sdk.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    except NotFoundError:
        pass
    _, text, _ = await admin.client.get("/admin/logs")
    assert "/v1/chat/completions" in text and MODEL in text and ">404<" in text
    _, text, _ = await admin.client.get("/admin/logs?status=4xx")
    assert ">404<" in text and ">200<" not in text
    _, text, _ = await admin.client.get(f"/admin/logs?model={MODEL}&status=200&key=global")
    assert ">200<" in text and ">404<" not in text
    _, text, _ = await admin.client.get("/admin/logs?status=weird")
    assert "status filter" in text
    _, text, _ = await admin.client.get("/admin/tasks")
    assert "a red kite over hills" in text and "completed" in text and 'href="/media/' in text
    _, text, _ = await admin.client.get("/admin/tasks?status=failed")
    assert "a red kite over hills" not in text
    _, text, _ = await admin.client.get("/admin/")
    assert "Requests, 24 h" in text


async def test_client_errors_are_not_account_failures_and_the_error_column_is_filled(admin: AdminSite,
                                                                                    fake: FakeWorld) -> None:
    """Issue 19 item 8: a 400 the upstream gave for the prompt is the client's, not a failure of the account."""
    sdk = AsyncOpenAI(base_url=f"{admin.url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    fake.image.plans.append([ContentPolicyError("The prompt was refused by the safety filter.")])
    fake.image.plans.append([GenerationFailedError("Flow gave up on this one.")])
    for _ in range(2):
        try:
            await sdk.images.generate(model=MODEL, prompt="a kite")
        except openai.APIStatusError:
            pass
    _, dashboard, _ = await admin.client.get("/admin/")
    assert "(1 failed)" in dashboard and "1 failed" in dashboard and "1 client errors" in dashboard
    _, logs, _ = await admin.client.get("/admin/logs")
    assert "refused by the safety filter" in logs and "Flow gave up on this one" in logs
    _, account, _ = await admin.client.get("/admin/accounts/1")
    failed = account.split("Recent failed requests", 1)[1].split("</section>", 1)[0]
    assert "Flow gave up" in failed and "safety filter" not in failed
    _, failed_only, _ = await admin.client.get("/admin/logs?status=failed")
    assert "Flow gave up" in failed_only and "safety filter" not in failed_only
