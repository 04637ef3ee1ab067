"""Documents of workflow plugins (table ``workflow_documents``): one JSON row per document, e.g. a storyboard.

A workflow (:class:`flow2api.plugin.Workflow`) gets a :class:`WorkflowDocuments` bound to its name
as its :class:`flow2api.plugin.DocumentStore`. ``owner`` is the stored ownership value
(``"global"``, ``"key:<id>"``, ``"admin"``: :func:`flow2api.storage.tasks.owner_of`), ``status`` the
workflow's own state name (indexed so a restart finds unfinished ones), ``data`` the document as a JSON
object. SQLAlchemy Core statements (:mod:`flow2api.storage.schema`), so SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select

from flow2api.plugin import StoredDocument
from flow2api.storage.database import Database
from flow2api.storage.schema import upsert, workflow_documents as docs

_OF_WORKFLOW = docs.c.workflow == bindparam("workflow")
_GET = select(docs).where(_OF_WORKFLOW, docs.c.id == bindparam("doc_id"))
_DELETE = delete(docs).where(_OF_WORKFLOW, docs.c.id == bindparam("doc_id")).returning(docs.c.id)


def _document(row: Any) -> StoredDocument:
    return StoredDocument(id=row.id, owner=row.owner, status=row.status, data=json.loads(row.data),
                          created_at=row.created_at, updated_at=row.updated_at)


class WorkflowDocuments:
    """The documents of one workflow (``workflow`` = its name); implements :class:`flow2api.plugin.DocumentStore`."""

    def __init__(self, db: Database, workflow: str) -> None:
        self._db = db
        self.workflow = workflow
        insert = upsert(db.dialect, docs)
        self._upsert = insert.on_conflict_do_update(
            index_elements=[docs.c.workflow, docs.c.id],
            set_={"status": insert.excluded.status, "data": insert.excluded.data,
                  "updated_at": insert.excluded.updated_at})

    async def put(self, doc_id: str, *, owner: str, status: str, data: Mapping[str, Any]) -> None:
        """Insert or replace ``doc_id`` (its ``owner`` and ``created_at`` stay those of the first write).

        In the group commit; returns once stored. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        now = time.time()
        await self._db.writes.write(self._upsert, {
            "workflow": self.workflow, "id": doc_id, "owner": owner, "status": status,
            "data": json.dumps(dict(data)), "created_at": now, "updated_at": now,
        }, idempotent=True)

    async def get(self, doc_id: str) -> StoredDocument | None:
        """The document, or ``None``."""
        row = await self._db.fetch_one(_GET, {"workflow": self.workflow, "doc_id": doc_id})
        return _document(row) if row is not None else None

    async def page(
        self, owner: str | None, *, after: str | None = None, limit: int = 20,
    ) -> tuple[list[StoredDocument], bool]:
        """``owner``'s documents (every owner's for ``None``), newest first, after the cursor id ``after``
        (OpenAI cursor pagination; an unknown cursor starts from the beginning), and whether more follow."""
        query = select(docs).where(docs.c.workflow == self.workflow)
        if owner is not None:
            query = query.where(docs.c.owner == owner)
        cursor = await self.get(after) if after else None
        if cursor is not None and (owner is None or cursor.owner == owner):
            query = query.where(or_(docs.c.created_at < cursor.created_at,
                                    and_(docs.c.created_at == cursor.created_at, docs.c.id < cursor.id)))
        rows = await self._db.fetch_all(query.order_by(docs.c.created_at.desc(), docs.c.id.desc()).limit(limit + 1))
        return [_document(row) for row in rows[:limit]], len(rows) > limit

    async def unfinished(self, statuses: Sequence[str]) -> list[StoredDocument]:
        """Documents whose status is one of ``statuses``, oldest first (taken up again after a restart)."""
        rows = await self._db.fetch_all(select(docs).where(docs.c.workflow == self.workflow, docs.c.status.in_(statuses))
                                        .order_by(docs.c.created_at, docs.c.id))
        return [_document(row) for row in rows]

    async def delete(self, doc_id: str) -> bool:
        """Remove the document; ``True`` when it existed."""
        return bool(await self._db.writes.write_one(_DELETE, {"workflow": self.workflow, "doc_id": doc_id}))
