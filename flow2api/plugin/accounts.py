"""Pool accounts as plugins see them: a read-only snapshot, an update a hook reports, the leased session.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports every name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AccountView:
    """A read-only snapshot of a pool account.

    ``secrets`` is the decrypted credential of the family (e.g. ``{"st": …, "at": …}``);
    ``state`` the family's non-secret JSON state (e.g. AT expiry, projects);
    ``tier`` and ``credits`` are what the family last reported; ``proxy_url`` is
    the account's own proxy or ``None``; ``projects`` the upstream project
    (workspace) ids recorded for the account, oldest first.
    """

    id: int
    family: str
    email: str
    secrets: Mapping[str, str]
    state: Mapping[str, Any]
    tier: str | None = None
    credits: int | None = None
    proxy_url: str | None = None
    projects: tuple[str, ...] = ()

    def __repr__(self) -> str:  # secrets must never reach a log line through a repr
        return f"AccountView(id={self.id}, family={self.family!r}, email={self.email!r}, tier={self.tier!r})"


@dataclass(slots=True)
class AccountUpdate:
    """What a family hook learned about an account; ``None`` fields are left unchanged.

    ``secrets`` and ``state`` are merged key by key into what is stored;
    ``new_projects`` maps upstream project ids to titles to record; ``gone_projects`` are
    project ids upstream no longer knows (deleted, or an emulator restarted), forgotten for good.
    """

    email: str | None = None
    name: str | None = None
    tier: str | None = None
    credits: int | None = None
    secrets: dict[str, str] | None = None
    state: dict[str, Any] | None = None
    new_projects: dict[str, str] | None = None
    gone_projects: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"AccountUpdate(email={self.email!r}, tier={self.tier!r}, credits={self.credits!r})"


class AccountSession(Protocol):
    """The leased account as a provider or family hook sees it.

    ``view`` is the current snapshot; ``save`` persists an update (encrypting
    secrets) and replaces ``view``.
    """

    @property
    def view(self) -> AccountView: ...

    async def save(self, update: AccountUpdate) -> None: ...


