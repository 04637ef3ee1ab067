"""The immutable catalog: model entries, resolver aliases, and how a requested id becomes an entry.

Built only by :func:`flow2api.catalog.loader.parse_catalog`; never mutated
after that (a reload builds a new one and swaps a reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pydantic import BaseModel

from flow2api.catalog.hints import ResolveHints, choose_aspect, choose_seconds, choose_size
from flow2api.catalog.schema import DEFAULT_OPERATIONS
from flow2api.errors import InvalidRequestError, ModelNotFoundError
from flow2api.plugin import Kind


class CatalogError(Exception):
    """The catalog file is invalid; ``problems`` holds one ``<file>:<line>: <field>: <message>`` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


#: How a 400 names an operation no route of a model can do.
OPERATION_TEXT = {"text": "generate from a prompt alone", "images": "generate from input images",
                  "extend": "extend a video", "edit": "edit a video"}


@dataclass(frozen=True, slots=True)
class Route:
    """One way to serve a model: a provider id, its validated options (``None`` if the provider is missing) and
    the operations it can do (``models.yaml`` ``operations``; see :data:`~flow2api.catalog.schema.Operation`)."""

    provider: str
    options: BaseModel | None
    operations: frozenset[str] = DEFAULT_OPERATIONS


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A public model id with its kind and its routes, in the file's order of preference."""

    id: str
    kind: Kind
    description: str
    enabled: bool
    routes: tuple[Route, ...]

    @property
    def available(self) -> bool:
        """True when at least one route's provider is installed."""
        return any(r.options is not None for r in self.routes)

    @property
    def missing_providers(self) -> tuple[str, ...]:
        """Provider ids of routes whose plugin is not installed, in route order."""
        return tuple(r.provider for r in self.routes if r.options is None)

    @property
    def operations(self) -> frozenset[str]:
        """Every operation some route of the entry can do."""
        return frozenset().union(*(r.operations for r in self.routes))

    def for_operation(self, operation: str) -> CatalogEntry:
        """This entry with only the routes that can do ``operation`` (itself when all can).

        Raises ``InvalidRequestError`` (400, ``param`` model) naming the operation when no route can,
        so a job is never sent to a route that would ignore part of it.
        """
        routes = tuple(r for r in self.routes if operation in r.operations)
        if len(routes) == len(self.routes):
            return self
        if not routes:
            what = OPERATION_TEXT.get(operation, operation)
            raise InvalidRequestError(f"The model '{self.id}' cannot {what} (operation '{operation}'); "
                                      "pick a model that can.", param="model")
        return CatalogEntry(self.id, self.kind, self.description, self.enabled, routes)


@dataclass(frozen=True, slots=True)
class Alias:
    """A resolver alias (spec §4.4): one public id standing for a table of concrete model ids.

    ``targets`` maps aspect word → size key → model id (see
    :mod:`flow2api.catalog.hints` for the words and keys); every aspect has a
    ``none`` size. ``default_aspect`` is used when the request says nothing
    usable; ``hints`` names the :class:`ResolveHints` fields this alias listens
    to. ``also_concrete`` marks an alias whose id is also a model id: with no
    hints it resolves to that model (the loader checks this), with hints it
    may redirect to another variant. ``alias_of`` names the one model of a legacy id (its ``targets`` are
    then that model alone and ``hints`` empty); such aliases resolve but are not listed.
    """

    id: str
    kind: Kind
    description: str
    enabled: bool
    also_concrete: bool
    default_aspect: str
    hints: frozenset[str]
    targets: Mapping[str, Mapping[str, str]]
    durations: Mapping[int, Mapping[str, Mapping[str, str]]] = field(default_factory=lambda: MappingProxyType({}))
    alias_of: str | None = None

    @property
    def default_target(self) -> str:
        """The model id a request without hints resolves to (``default_aspect`` row, ``none`` size)."""
        return self.targets[self.default_aspect]["none"]

    @property
    def all_targets(self) -> frozenset[str]:
        """Every model id the alias can resolve to, over ``targets`` and every ``durations`` table."""
        tables = (self.targets, *self.durations.values())
        return frozenset(target for table in tables for row in table.values() for target in row.values())

    @property
    def aspects(self) -> tuple[str, ...]:
        """The aspect words the alias offers, in file order."""
        return tuple(self.targets)

    @property
    def sizes(self) -> tuple[str, ...]:
        """The size keys other than ``none`` that any aspect offers, in first-seen order."""
        seen: dict[str, None] = {}
        for table in self.targets.values():
            seen.update((size, None) for size in table if size != "none")
        return tuple(seen)

    def wants_image_dims(self, hints: ResolveHints | None) -> bool:
        """Whether the first input image's pixel size could change the outcome (saves decoding it otherwise)."""
        return "image_dims" in self.hints and len(self.targets) > 1 and not (hints and hints.aspect_decided(self.hints))

    def choose(self, hints: ResolveHints | None) -> str:
        """The concrete model id for ``hints`` (``None`` = the default aspect without upsampling).

        Raises ``InvalidRequestError`` (400, ``param`` seconds) for a ``seconds`` the alias has no table for.
        """
        targets = self.targets
        seconds = choose_seconds(hints, self.hints) if self.durations else None
        if seconds is not None:
            if seconds not in self.durations:
                offered = ", ".join(str(s) for s in sorted(self.durations))
                raise InvalidRequestError(f"The model '{self.id}' makes {offered}-second videos, not {seconds}.",
                                          param="seconds")
            targets = self.durations[seconds]
        aspect = choose_aspect(hints, tuple(targets), self.default_aspect, self.hints)
        table = targets[aspect]
        size = choose_size(hints, self.hints)
        # A size the chosen aspect does not offer is ignored, like the original resolver did (spec §4.4).
        return table.get(size) or table["none"]


def _everything(model_id: str) -> bool:
    """The permission of a key without a model list (and of the admin site): every id."""
    return True


@dataclass(frozen=True, slots=True)
class Catalog:
    """An immutable snapshot of ``models.yaml``.

    ``entries`` maps every model id (enabled or not) to its entry, in file
    order; ``aliases`` every resolver alias id to its :class:`Alias`;
    ``digest`` is the first 12 hex digits of the file's SHA-256; ``loaded_at``
    Unix seconds; ``warnings`` lists routes whose provider is not installed.
    """

    entries: Mapping[str, CatalogEntry]
    digest: str
    loaded_at: float
    source: str
    warnings: tuple[str, ...] = ()
    aliases: Mapping[str, Alias] = field(default_factory=lambda: MappingProxyType({}))

    def alias(self, model_id: str) -> Alias | None:
        """The enabled alias named ``model_id``, or ``None``."""
        alias = self.aliases.get(model_id)
        return alias if alias is not None and alias.enabled else None

    def resolve(self, model_id: str, hints: ResolveHints | None = None) -> CatalogEntry:
        """The enabled entry a request for ``model_id`` is served by.

        An enabled alias picks its target from ``hints`` (it wins over a model
        of the same id, which is then its hint-less target); otherwise
        ``model_id`` must be an enabled model. Raises ``ModelNotFoundError``
        (404 ``model_not_found``, ``param: model``) for an unknown or disabled
        id, or an alias whose chosen target is disabled.
        """
        alias = self.alias(model_id)
        if alias is not None:
            target = alias.choose(hints)
            entry = self.entries.get(target)
            if entry is None or not entry.enabled:
                raise ModelNotFoundError(
                    f"The model '{model_id}' resolves to '{target}' for this request, which is disabled", param="model",
                )
            return entry
        entry = self.entries.get(model_id)
        if entry is None or not entry.enabled:
            raise ModelNotFoundError(f"The model '{model_id}' does not exist", param="model")
        return entry

    def lookup(self, model_id: str, allowed: Callable[[str], bool] = _everything) -> CatalogEntry | Alias | None:
        """What ``GET /v1/models/{model_id}`` shows: the enabled model, else the enabled alias, else ``None``.

        ``allowed`` is the key's model permission (``Caller.may_use``): a model must be allowed; an alias must be
        allowed itself or resolve only into allowed models (:attr:`Alias.all_targets`), so every request a
        listed alias can turn into passes the key's check.
        """
        entry = self.entries.get(model_id)
        if entry is not None and entry.enabled:
            return entry if allowed(entry.id) else None
        alias = self.alias(model_id)
        if alias is not None and (allowed(alias.id) or all(allowed(t) for t in alias.all_targets)):
            return alias
        return None

    def listing(self, allowed: Callable[[str], bool] = _everything) -> list[CatalogEntry | Alias]:
        """Every id a client may discover, in file order: enabled models, then enabled aliases that are not
        also a listed model id and not legacy ids (``alias_of``), each passing :meth:`lookup` with ``allowed``.

        The one set behind ``/v1/models``, ``/v1beta/models`` and the admin playground's model picker.
        """
        items: list[CatalogEntry | Alias] = [e for e in self.public_entries() if allowed(e.id)]
        items += [a for a in self.public_aliases() if self.lookup(a.id, allowed) is a]
        return items

    def public_entries(self) -> list[CatalogEntry]:
        """Enabled entries in file order (what ``/v1/models`` lists)."""
        return [e for e in self.entries.values() if e.enabled]

    def public_aliases(self) -> list[Alias]:
        """Enabled aliases in file order, legacy ids (``alias_of``) left out (what ``/v1/models/aliases`` lists)."""
        return [a for a in self.aliases.values() if a.enabled and a.alias_of is None]
