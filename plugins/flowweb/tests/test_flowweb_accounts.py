"""flowweb accounts: import through ``pool.add`` and the CLI, secrets at rest, bootstrap refresh, XSRF, cookie expiry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from flowweb_helpers import (
    CATALOG, FLOWWEB_FACTORIES, PNG, FlowWeb, add_flowweb_account, chat, download, flowweb_settings, result_url,
)

from flow2api.errors import CredentialRejectedError, InvalidRequestError
from flow2api.testing import Gateway, make_settings
from flow2api.testing import run_cli as flow2api
from flow2api.testing.processes import write_config
from flow2api_flowweb.config import load_config
from flow2api_flowweb.family import FlowWebFamily


async def test_a_json_export_is_stored_encrypted_and_never_logged(tmp_path: Path, flowweb: FlowWeb,
                                                                  start_gateway: Callable, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb), FLOWWEB_FACTORIES)
    account = flowweb.emulator.add_account("json@example.com", tier=3, credits=7)
    await add_flowweb_account(gateway, account, json_export=True)
    record = gateway.pool.records()[0]
    assert (record.email, record.tier, record.credits) == ("json@example.com", "PAYGATE_TIER_NOT_PAID", 7)
    await chat(gateway, "fw-image", "a boat")
    at = gateway.pool.records()[0].secrets["at"]
    await gateway.server.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("flow2api.db*"))
    secrets = [*account.cookies.values(), at]
    assert stored and not [s for s in secrets if s.encode() in stored]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert len(caplog.records) > 5 and not [s for s in secrets if s in logged]


async def test_cookies_without_osid_are_refused_before_any_request(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    account = flowweb.emulator.add_account("nosid@example.com")
    text = "\n".join(line for line in account.cookies_txt().splitlines() if "OSID" not in line)
    before = len(flowweb.emulator.requests)
    with pytest.raises(InvalidRequestError, match="OSID or __Secure-OSID"):
        await fw_gateway.pool.add("flowweb", {"cookies": text})
    assert len(flowweb.emulator.requests) == before


async def test_signed_out_cookies_and_a_wrong_email_are_refused(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    account = flowweb.emulator.add_account("gone@example.com")
    with pytest.raises(InvalidRequestError, match="belong to gone@example.com"):
        await fw_gateway.pool.add("flowweb", {"cookies": account.cookies_txt(), "email": "other@example.com"})
    account.cookies_valid = False
    with pytest.raises(CredentialRejectedError, match="not signed in"):
        await fw_gateway.pool.add("flowweb", {"cookies": account.cookies_txt()})


async def test_an_xsrf_challenge_on_a_write_is_answered_once_with_the_new_token(fw_gateway: Gateway,
                                                                                flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "expire_xsrf", "operation": "ogiZ0b", "count": 1})
    body, _ = await download(result_url(await chat(fw_gateway, "fw-image", "a tree")))
    assert body.startswith(PNG)
    first, second = flowweb.emulator.calls("ogiZ0b")
    current = flowweb.emulator.account("alice@example.com").at
    assert first.status == 400 and second.status == 200
    assert first.form["at"] != current and second.form["at"] == current
    assert fw_gateway.pool.records()[0].secrets["at"] == current


async def test_a_stale_bootstrap_is_reread_from_the_project_page(tmp_path: Path, flowweb: FlowWeb,
                                                                 start_gateway: Callable) -> None:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, bootstrap_max_age=0), FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("stale@example.com"))
    await chat(gateway, "fw-image", "one")
    await chat(gateway, "fw-image", "two")
    projects = gateway.pool.view(gateway.pool.records()[0].id).projects
    pages = [c.path for c in flowweb.emulator.calls("page")]
    assert pages[0] == "/" and {f"/project/{p}" for p in projects} & set(pages[1:])
    assert len(flowweb.emulator.calls("nzlxg")) >= 3


async def test_expired_cookies_fail_the_request_then_disable_the_account(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "expire_cookies", "account": "alice@example.com", "operation": "jHPbke"})
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(fw_gateway, "fw-image", "a lamp")
    assert raised.value.code == "upstream_session_expired" and raised.value.status_code == 401   # spec §14.4
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(fw_gateway, "fw-image", "a lamp")
    assert raised.value.status_code == 503
    record = fw_gateway.pool.records()[0]
    assert not record.enabled and record.ban_reason == "session expired"


async def test_the_demo_upstream_serves_a_working_account(tmp_path: Path, start_gateway: Callable) -> None:
    family = FlowWebFamily(load_config({}))
    async with family.demo_upstream(tmp_path) as demo:
        settings = make_settings(tmp_path, catalog={"path": str(CATALOG)}, **demo.sections)
        gateway = await start_gateway(settings, FLOWWEB_FACTORIES)
        record = await gateway.pool.add("flowweb", dict(demo.credentials))
        assert record.email == "demo@flow2api.local" and record.tier == "PAYGATE_TIER_TWO"
        body, _ = await download(result_url(await chat(gateway, "fw-image-4k", "a demo picture")))
        assert body.startswith(b"\xff\xd8\xff")


async def test_cli_accounts_add_with_a_cookie_file(tmp_path: Path, flowweb: FlowWeb) -> None:
    account = flowweb.emulator.add_account("cli@example.com", tier=2, credits=42)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(account.cookies_txt(), encoding="utf-8")
    config = write_config(tmp_path / "flow2api.toml", flowweb.sections())
    data = str(tmp_path / "data")
    code, out, err = await flow2api("accounts", "add", "--family", "flowweb", "--cookies", str(cookies),
                                    "--config", str(config), "--data-dir", data)
    assert code == 0, err
    assert "(flowweb) cli@example.com" in out and "PAYGATE_TIER_TWO" in out and "credits 42" in out
    code, out, err = await flow2api("accounts", "list", "--config", str(config), "--data-dir", data)
    assert code == 0 and "flowweb\tcli@example.com" in out
    for value in account.cookies.values():
        assert value not in out + err
    code, out, err = await flow2api("accounts", "add", "--family", "flowweb", "--cookies", str(tmp_path / "missing"),
                                    "--config", str(config), "--data-dir", data)
    assert code == 2 and "cannot read" in err and "Traceback" not in err
