"""Observability: ``/metrics`` (parsed with prometheus-client's own parser), usage statistics, request logs."""

from __future__ import annotations

import base64
import time

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from flow2api.apikeys import API_KEYS
from flow2api.errors import UpstreamUnavailableError
from flow2api.storage import DATABASE
from flow2api.storage.tasks import REQUEST_LOGS, TASKS
from flow2api.storage.usage import USAGE, utc_day
from tests.api.conftest import IMAGE_MODEL, FakeWorld, SdkFactory, png
from tests.conftest import API_KEY


async def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """``{sample name: {sorted label items: value}}`` from ``/metrics``."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


async def test_metrics_count_requests_generations_accounts_and_errors(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.plans.append([UpstreamUnavailableError("503")])
    gw = await fake.start(accounts=2)
    await gw.pool.update(gw.pool.records()[0].id, credits=42)
    await sdk(gw).chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/v1/models") as r:  # no key: a 401 on the openai surface
            assert r.status == 401
    m = await scrape(gw.url)
    requests = m["flow2api_requests_total"]
    assert requests[(("model", IMAGE_MODEL), ("status", "200"), ("surface", "openai"))] == 1
    assert requests[(("model", ""), ("status", "401"), ("surface", "openai"))] == 1
    histogram = m["flow2api_generation_duration_seconds_count"]
    assert histogram[(("kind", "image"), ("outcome", "succeeded"))] == 1
    assert histogram[(("kind", "image"), ("outcome", "failed"))] == 1
    assert m["flow2api_upstream_errors_total"][(("error", "UpstreamUnavailableError"),)] == 1
    assert m["flow2api_outputs_total"][(("kind", "image"),)] == 1
    assert m["flow2api_in_flight"][(("kind", "image"),)] == 0
    assert m["flow2api_accounts"][(("state", "enabled"),)] == 2
    assert m["flow2api_account_credits"][(("account_id", str(gw.pool.records()[0].id)),)] == 42
    assert m["flow2api_media_cache_files"][()] == 1
    assert m["flow2api_video_jobs"][(("status", "running"),)] == 0


async def test_each_app_has_its_own_registry(fake: FakeWorld, sdk: SdkFactory) -> None:
    first = await fake.start()
    await sdk(first).chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}])
    second = await fake.start()
    m = await scrape(second.url)
    assert not any(m.get("flow2api_generation_duration_seconds_count", {}).values())


async def test_usage_per_account_key_model_and_day(fake: FakeWorld, sdk: SdkFactory) -> None:
    fake.image.plans.append([UpstreamUnavailableError("503")])
    gw = await fake.start(accounts=2)
    record, key = await gw.app[API_KEYS].create("team-a")
    await sdk(gw).chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}])
    await sdk(gw, key).images.generate(model=IMAGE_MODEL, prompt="y", n=2)
    usage = gw.app[USAGE]
    by_key = {r.group["api_key"]: r for r in await usage.daily(group_by=("api_key",))}
    assert by_key["global"].attempts == 2 and by_key["global"].succeeded == 1 and by_key["global"].failed == 1
    assert by_key["team-a"].succeeded == 2 and by_key["team-a"].outputs == 2
    by_account = await usage.daily(group_by=("account_id",))
    assert sum(r.attempts for r in by_account) == 4 and len(by_account) == 2
    today = await usage.daily(group_by=("day", "model"), since=utc_day(), until=utc_day())
    assert [(r.group["day"], r.group["model"], r.succeeded) for r in today] == [(utc_day(), IMAGE_MODEL, 3)]
    assert (await usage.daily(group_by=("model",), api_key_id=record.id))[0].attempts == 2
    top = await usage.daily(group_by=("model",), since=utc_day())
    assert top[0].group == {"model": IMAGE_MODEL} and top[0].duration_ms > 0


async def test_request_log_is_pruned_by_rows_and_age(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    logs = gw.app[REQUEST_LOGS]
    for _ in range(5):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {API_KEY}"}) as r:
                assert r.status == 200
    assert await logs.count() == 5
    assert await logs.prune_beyond(3) == 2 and await logs.count() == 3
    db = gw.app[DATABASE]
    await db.conn.execute(
        "UPDATE request_logs SET created_at = created_at - 10 * 86400 WHERE id = (SELECT MIN(id) FROM request_logs)")
    await db.conn.commit()
    assert await logs.prune_before(time.time() - 86400) == 1 and await logs.count() == 2


async def test_task_rows_keep_a_bounded_request_summary(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    uri = "data:image/png;base64," + base64.b64encode(png(300, 300)).decode()
    long_prompt = "word " * 400
    completion = await sdk(gw).chat.completions.with_raw_response.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": [
            {"type": "text", "text": long_prompt}, {"type": "image_url", "image_url": {"url": uri}}]}])
    request_id = completion.headers["X-Request-ID"]
    task = await gw.app[TASKS].get(request_id)
    summary = task.request["summary"]
    parts = summary["messages"][0]["content"]
    assert parts[1]["image_url"]["url"].startswith("<data URI image/png, ")
    assert len(parts[0]["text"]) < 600 and "chars)" in parts[0]["text"]
    assert task.surface == "chat" and task.owner == "global" and task.status == "completed"


async def test_health_reports_media_and_video_jobs_and_ready(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    await sdk(gw).chat.completions.create(model=IMAGE_MODEL, messages=[{"role": "user", "content": "x"}])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/health") as r:
            health = await r.json()
        async with http.get(f"{gw.url}/ready") as r:
            assert r.status == 200 and (await r.json()) == {
                "ready": True, "storage": {"backend": "sqlite", "reachable": True},
                "coordination": {"backend": "in-process", "reachable": True},
            }
    assert health["storage"] == {"backend": "sqlite", "reachable": True}
    assert health["coordination"] == {"backend": "in-process", "reachable": True}
    assert health["media"]["files"] == 1 and health["media"]["bytes"] > 0
    assert health["video_jobs"] == {"queued": 0, "running": 0}
