"""Bulk import and export of accounts, compatible with the original flow2api's files.

Import accepts (pasted or uploaded):

* the original project's import body ``{"tokens": [{"session_token": …, …}]}``
  and its export file, a bare JSON list of the same items (spec §5.11
  ``POST /api/tokens/import``; its items carry ``email``, ``access_token``,
  ``session_token``, ``is_active``, ``captcha_proxy_url``, ``image_enabled``,
  ``video_enabled``, ``image_concurrency``, ``video_concurrency``);
* our own export (same shape, plus ``family``, ``remark``, ``proxy_url``);
* a list of bare session tokens, as JSON strings or one per line.

Each item's session token is checked with its family (ST→AT, e-mail, credits)
and upserted by e-mail, as the original does; ``access_token`` and ``email``
in the file are ignored (the upstream answer is the truth). ``is_active:
false`` imports the account disabled. Items are independent: one bad token is
reported and the others are imported.

Export writes ``{"tokens": [...]}`` in the same item shape; credentials and
proxy URLs (which may carry a password) are included only when asked for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from flow2api.errors import Flow2APIError, InvalidRequestError
from flow2api.pool import AccountPool
from flow2api.proxies import validate_proxy_url

log = logging.getLogger(__name__)

DEFAULT_FAMILY = "videofx"
MAX_ITEMS = 1000
PARALLEL_CHECKS = 4  # upstream ST→AT checks at once: fast enough, and gentle with the upstream


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One account to import: ``credentials`` for its family and the editable fields to set."""

    index: int
    family: str
    credentials: dict[str, str]
    fields: dict[str, Any]
    enabled: bool = True


@dataclass(slots=True)
class ImportReport:
    """What an import did: ids ``added`` and ``updated``, ``failed`` as ``{"item": n (1-based), "error": text}``."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """``{"added", "updated", "failed"}`` counts plus ``ids`` and ``errors``."""
        return {
            "added": len(self.added), "updated": len(self.updated), "failed": len(self.failed),
            "ids": sorted(self.added + self.updated), "errors": self.failed,
        }


def parse_import(text: str) -> tuple[list[ImportItem], list[dict[str, Any]]]:
    """Items to import from pasted or uploaded text, and the items refused while reading.

    Raises ``InvalidRequestError`` when the text is neither JSON in a known
    shape nor a list of tokens, or holds more than 1000 items.
    """
    text = text.strip()
    if not text:
        raise InvalidRequestError("Nothing to import: paste JSON or upload a file.", param="data")
    try:
        payload: Any = json.loads(text)
    except json.JSONDecodeError:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines or any(" " in line or line.startswith(("{", "[")) for line in lines):
            raise InvalidRequestError(
                "Not valid JSON, nor one session token per line. Expected {\"tokens\": [...]} or a JSON list.",
                param="data",
            ) from None
        payload = lines
    if isinstance(payload, dict):
        payload = payload.get("tokens", payload.get("accounts"))
    if not isinstance(payload, list):
        raise InvalidRequestError("Expected {\"tokens\": [...]}, {\"accounts\": [...]} or a JSON list.", param="data")
    if len(payload) > MAX_ITEMS:
        raise InvalidRequestError(f"At most {MAX_ITEMS} accounts per import; split the file.", param="data")
    items: list[ImportItem] = []
    refused: list[dict[str, Any]] = []
    for index, raw in enumerate(payload, start=1):
        try:
            items.append(_item(index, raw))
        except ValueError as exc:
            refused.append({"item": index, "error": str(exc)})
    return items, refused


def _item(index: int, raw: Any) -> ImportItem:
    if isinstance(raw, str):
        raw = {"session_token": raw}
    if not isinstance(raw, dict):
        raise ValueError("expected an object or a session token string")
    family = raw.get("family") or DEFAULT_FAMILY
    credentials = dict(raw.get("credentials") or {})
    st = raw.get("session_token") or raw.get("st")
    if st:
        credentials["st"] = str(st).strip()
    if not credentials:
        raise ValueError("missing session_token")
    fields: dict[str, Any] = {}
    for name in ("image_enabled", "video_enabled"):
        if name in raw:
            fields[name] = bool(raw[name])
    for name in ("image_concurrency", "video_concurrency"):
        if raw.get(name) is not None:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise ValueError(f"{name} must be an integer ≥ -1")
            fields[name] = value
    if isinstance(raw.get("remark"), str):
        fields["remark"] = raw["remark"][:2000]
    proxy = raw.get("proxy_url") or raw.get("captcha_proxy_url")
    if proxy:
        fields["proxy_url"] = validate_proxy_url(str(proxy).strip())
    enabled = raw.get("is_active", raw.get("enabled", True))
    return ImportItem(index, str(family), credentials, fields, enabled=enabled is not False)


async def run_import(pool: AccountPool, items: list[ImportItem]) -> ImportReport:
    """Check and upsert every item (4 at a time); failures are collected, never raised."""
    report = ImportReport()
    known = {r.id for r in pool.records()}
    limit = asyncio.Semaphore(PARALLEL_CHECKS)

    async def one(item: ImportItem) -> None:
        """Import one item, recording its outcome in ``report``."""
        async with limit:
            try:
                record = await pool.add(item.family, item.credentials, **item.fields)
                if not item.enabled:
                    await pool.update(record.id, enabled=False, ban_reason="imported as inactive")
            except Flow2APIError as exc:
                report.failed.append({"item": item.index, "error": exc.message})
                return
        (report.updated if record.id in known else report.added).append(record.id)

    await asyncio.gather(*(one(item) for item in items))
    report.failed.sort(key=lambda f: f["item"])
    log.info("account import: %d added, %d updated, %d failed", len(report.added), len(report.updated), len(report.failed))
    return report


def build_export(pool: AccountPool, *, include_secrets: bool) -> dict[str, Any]:
    """``{"tokens": [...], "exported_at", "secrets_included"}`` in the original's item shape.

    Without ``include_secrets`` the items carry no credential and no proxy URL
    (such a file documents the pool but cannot be imported back).
    """
    items = []
    for r in pool.records():
        item: dict[str, Any] = {
            "email": r.email, "family": r.family, "name": r.name, "remark": r.remark, "is_active": r.enabled,
            "image_enabled": r.image_enabled, "video_enabled": r.video_enabled,
            "image_concurrency": r.image_concurrency, "video_concurrency": r.video_concurrency,
            "tier": r.tier, "credits": r.credits,
        }
        if include_secrets:
            item["session_token"] = r.secrets.get("st")
            item["access_token"] = r.secrets.get("at")
            others = {k: v for k, v in r.secrets.items() if k not in ("st", "at")}
            if others:
                item["credentials"] = others
            item["proxy_url"] = r.proxy_url
        items.append(item)
    if include_secrets:
        log.warning("accounts exported WITH credentials (%d accounts)", len(items))
    return {"tokens": items, "exported_at": time.time(), "secrets_included": include_secrets}
