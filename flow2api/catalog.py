"""The model catalog: ``models.yaml`` → validated, immutable :class:`Catalog`.

Loading is ``yaml`` compose (for line numbers) → pydantic file model
(``extra="forbid"``) → cross-checks (ids unique, each route's provider
installed and accepting the route's ``options``) → :class:`Catalog` with a
digest. Every problem is collected into one :class:`CatalogError` whose lines
read ``<file>:<line>: <field path>: <message>``.

A :class:`CatalogHolder` keeps the current catalog and swaps one reference on
reload; a failed reload keeps the previous catalog and records the error for
``/health``. Requests read ``holder.current`` once and keep that snapshot.
Reload triggers: file change (watchfiles on the parent directory, since editors
and ``os.replace`` swap the inode), SIGHUP (installed by the CLI), and
:meth:`CatalogHolder.reload` from the admin API.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flow2api.errors import ModelNotFoundError
from flow2api.plugin import Kind, Provider

log = logging.getLogger(__name__)


class CatalogError(Exception):
    """The catalog file is invalid; ``problems`` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _RouteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class _ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    kind: Kind
    description: str = ""
    enabled: bool = True
    routes: list[_RouteFile] = Field(min_length=1)


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    models: list[_ModelFile] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Route:
    """One way to serve a model: a provider id and its validated options (``None`` if the provider is missing)."""

    provider: str
    options: BaseModel | None


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


@dataclass(frozen=True, slots=True)
class ResolveHints:
    """What a request says about the variant it wants, used to resolve alias ids (spec §4.4).

    ``aspect_ratio`` like ``"16:9"``; ``image_size`` like ``"2k"``/``"4k"``/``"1080p"``;
    ``size`` OpenAI's ``"WxH"``; ``quality`` OpenAI's ``standard|medium|high|hd``;
    ``image_dims`` the first input image's ``(width, height)`` in pixels.
    """

    aspect_ratio: str | None = None
    image_size: str | None = None
    size: str | None = None
    quality: str | None = None
    image_dims: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    """An immutable snapshot of ``models.yaml``.

    ``entries`` maps every model id (enabled or not) to its entry; ``digest`` is
    the first 12 hex digits of the file's SHA-256; ``loaded_at`` Unix seconds;
    ``warnings`` lists routes whose provider is not installed.
    """

    entries: Mapping[str, CatalogEntry]
    digest: str
    loaded_at: float
    source: str
    warnings: tuple[str, ...] = ()

    def resolve(self, model_id: str, hints: ResolveHints | None = None) -> CatalogEntry:
        """The enabled entry for ``model_id``; raises ``ModelNotFoundError`` (404 ``model_not_found``).

        ``hints`` choose the concrete variant when ``model_id`` is an alias.
        """
        entry = self.entries.get(model_id)
        if entry is None or not entry.enabled:
            raise ModelNotFoundError(f"The model '{model_id}' does not exist", param="model")
        return entry

    def public_entries(self) -> list[CatalogEntry]:
        """Enabled entries in file order (what ``/v1/models`` lists)."""
        return [e for e in self.entries.values() if e.enabled]


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            out[child] = key_node.start_mark.line + 1
            _line_index(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out)


def _line_of(index: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return 1


def _field_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(file)"


def parse_catalog(text: str, source: str, providers: Mapping[str, Provider]) -> Catalog:
    """Validate catalog ``text`` against the installed ``providers``.

    Returns a :class:`Catalog`; raises :class:`CatalogError` listing every
    problem as ``<source>:<line>: <field>: <message>``. Routes naming a provider
    that is not installed are kept (unavailable) and listed in ``warnings``.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([f"{source}:{line}: (file): not valid YAML: {problem}"]) from None
    index: dict[tuple[Any, ...], int] = {}
    if root is not None:
        _line_index(root, (), index)
    if raw is None:
        raw = {}
    problems: list[str] = []

    def problem(loc: tuple[Any, ...], message: str) -> None:
        problems.append(f"{source}:{_line_of(index, loc)}: {_field_path(loc)}: {message}")

    try:
        parsed = _CatalogFile.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            problem(tuple(err["loc"]), message)
        raise CatalogError(problems) from None

    entries: dict[str, CatalogEntry] = {}
    first_line: dict[str, int] = {}
    warnings: list[str] = []
    for i, model in enumerate(parsed.models):
        loc = ("models", i)
        if model.id in entries:
            problem(loc + ("id",), f"duplicate model id '{model.id}' (first defined on line {first_line[model.id]})")
            continue
        routes = []
        for j, route in enumerate(model.routes):
            rloc = loc + ("routes", j)
            provider = providers.get(route.provider)
            if provider is None:
                warnings.append(
                    f"{source}:{_line_of(index, rloc + ('provider',))}: {_field_path(rloc + ('provider',))}: "
                    f"provider '{route.provider}' is not installed; model '{model.id}' is unavailable through it"
                )
                routes.append(Route(route.provider, None))
                continue
            if model.kind not in provider.kinds:
                problem(rloc + ("provider",), f"provider '{route.provider}' does not produce {model.kind.value}s")
                continue
            try:
                options = provider.Options.model_validate(route.options)
            except ValidationError as exc:
                for err in exc.errors():
                    message = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
                    problem(rloc + ("options",) + tuple(err["loc"]), message)
                continue
            routes.append(Route(route.provider, options))
        entries[model.id] = CatalogEntry(model.id, model.kind, model.description, model.enabled, tuple(routes))
        first_line[model.id] = _line_of(index, loc)
    if problems:
        raise CatalogError(problems)
    return Catalog(
        entries=MappingProxyType(entries),
        digest=hashlib.sha256(text.encode()).hexdigest()[:12],
        loaded_at=time.time(),
        source=source,
        warnings=tuple(warnings),
    )


def load_catalog(path: Path, providers: Mapping[str, Provider]) -> Catalog:
    """Read and validate the catalog file at ``path``; raises :class:`CatalogError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError([f"{path}:1: (file): cannot read: {exc.strerror}"]) from None
    return parse_catalog(text, str(path), providers)


@dataclass
class CatalogHolder:
    """Holds the current :class:`Catalog`; :meth:`reload` swaps it atomically or keeps it and records why.

    ``last_error`` is ``None`` after a good load, else the problems of the last
    failed one; ``last_attempt`` is its Unix time.
    """

    path: Path
    providers: Mapping[str, Provider]
    current: Catalog
    last_error: list[str] | None = None
    last_attempt: float = field(default_factory=time.time)

    @classmethod
    def load(cls, path: Path, providers: Mapping[str, Provider]) -> CatalogHolder:
        """Load the first catalog; raises :class:`CatalogError` (start-up must fail on a bad file)."""
        catalog = load_catalog(path, providers)
        _log_loaded(catalog)
        return cls(path=path, providers=providers, current=catalog)

    def reload(self) -> bool:
        """Load the file again; True when the new catalog is in place, False when the old one was kept."""
        self.last_attempt = time.time()
        try:
            catalog = load_catalog(self.path, self.providers)
        except CatalogError as exc:
            self.last_error = exc.problems
            log.error("catalog reload failed, keeping digest %s: %s", self.current.digest, exc)
            return False
        self.last_error = None
        if catalog.digest != self.current.digest:
            self.current = catalog
            _log_loaded(catalog)
        return True

    async def watch(self, debounce_ms: int = 50) -> None:
        """Reload whenever the file changes; runs until cancelled.

        Watches the parent directory and filters by name, because an atomic
        replace (editors, ``os.replace``) gives the file a new inode.
        """
        import watchfiles

        target = self.path.resolve()
        async for changes in watchfiles.awatch(
            target.parent, debounce=debounce_ms, step=20, recursive=False,
            watch_filter=lambda _change, changed: Path(changed).resolve() == target,
        ):
            if changes:
                self.reload()
                await asyncio.sleep(0)


def _log_loaded(catalog: Catalog) -> None:
    log.info(
        "catalog %s loaded from %s: %d models%s",
        catalog.digest, catalog.source, len(catalog.entries),
        f", {len(catalog.warnings)} unavailable routes" if catalog.warnings else "",
    )
