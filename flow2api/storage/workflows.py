"""Documents of workflow plugins (table ``workflow_documents``): one JSON row per document, e.g. a storyboard.

A workflow (:class:`flow2api.plugin.Workflow`) gets a :class:`WorkflowDocuments` bound to its name
as its :class:`flow2api.plugin.DocumentStore`. ``owner`` is the stored ownership value
(``"global"``, ``"key:<id>"``, ``"admin"``: :func:`flow2api.storage.tasks.owner_of`), ``status`` the
workflow's own state name (indexed so a restart finds unfinished ones), ``data`` the document as a JSON
object. Plain statements only, one per method, so the module ports to any SQL layer as it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from flow2api.plugin import StoredDocument
from flow2api.storage.database import Database

_UPSERT = (
    "INSERT INTO workflow_documents (workflow, id, owner, status, data, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (workflow, id) DO UPDATE SET status = excluded.status, data = excluded.data,"
    " updated_at = excluded.updated_at"
)


def _document(row: Any) -> StoredDocument:
    return StoredDocument(id=row["id"], owner=row["owner"], status=row["status"], data=json.loads(row["data"]),
                          created_at=row["created_at"], updated_at=row["updated_at"])


class WorkflowDocuments:
    """The documents of one workflow (``workflow`` = its name); implements :class:`flow2api.plugin.DocumentStore`."""

    def __init__(self, db: Database, workflow: str) -> None:
        self._db = db
        self.workflow = workflow

    async def put(self, doc_id: str, *, owner: str, status: str, data: Mapping[str, Any]) -> None:
        """Insert or replace ``doc_id`` (its ``owner`` and ``created_at`` stay those of the first write).

        In the group commit; returns once stored. Raises ``sqlite3.Error``."""
        now = time.time()
        await self._db.writes.write(
            _UPSERT, (self.workflow, doc_id, owner, status, json.dumps(dict(data)), now, now), idempotent=True,
        )

    async def get(self, doc_id: str) -> StoredDocument | None:
        """The document, or ``None``."""
        row = await self._db.fetch_one(
            "SELECT * FROM workflow_documents WHERE workflow = ? AND id = ?", (self.workflow, doc_id))
        return _document(row) if row is not None else None

    async def page(
        self, owner: str | None, *, after: str | None = None, limit: int = 20,
    ) -> tuple[list[StoredDocument], bool]:
        """``owner``'s documents (every owner's for ``None``), newest first, after the cursor id ``after``
        (OpenAI cursor pagination; an unknown cursor starts from the beginning), and whether more follow."""
        where, params = "workflow = ?", [self.workflow]
        if owner is not None:
            where += " AND owner = ?"
            params.append(owner)
        cursor = await self.get(after) if after else None
        if cursor is not None and (owner is None or cursor.owner == owner):
            where += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            params += [cursor.created_at, cursor.created_at, cursor.id]
        rows = await self._db.fetch_all(
            f"SELECT * FROM workflow_documents WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit + 1),
        )
        return [_document(row) for row in rows[:limit]], len(rows) > limit

    async def unfinished(self, statuses: Sequence[str]) -> list[StoredDocument]:
        """Documents whose status is one of ``statuses``, oldest first (taken up again after a restart)."""
        marks = ", ".join("?" for _ in statuses)
        rows = await self._db.fetch_all(
            f"SELECT * FROM workflow_documents WHERE workflow = ? AND status IN ({marks}) ORDER BY created_at, id",
            (self.workflow, *statuses),
        )
        return [_document(row) for row in rows]

    async def delete(self, doc_id: str) -> bool:
        """Remove the document; ``True`` when it existed."""
        rows = await self._db.writes.write_one(
            "DELETE FROM workflow_documents WHERE workflow = ? AND id = ? RETURNING id", (self.workflow, doc_id))
        return bool(rows)
