"""Loading ``models.yaml``: YAML with line numbers → schema → cross-checks → :class:`Catalog`.

Every problem is collected, then raised together as one :class:`CatalogError`
whose lines read ``<file>:<line>: <field path>: <message>``, e.g.::

    models.yaml:12: models[1].routes[0].options.aspect_ratio: Input should be 'IMAGE_ASPECT_RATIO_LANDSCAPE', …
    models.yaml:40: aliases[2].targets.portrait.none: alias target 'x-portrait' is not a model id

Cross-checks: model ids unique; alias ids unique and distinct from model ids
unless ``also_concrete``; every alias target (and ``alias_of``) an existing model of the alias's
kind; each route's provider serving the model's kind and accepting its
``options``. A route whose provider is not installed is not an error: the
model stays in the catalog, unavailable, and the route is listed in
``Catalog.warnings``.

Which file (:func:`catalog_path`): ``[catalog] path`` when set (file,
``FLOW2API_CATALOG__PATH``), else ``models.yaml`` in the working directory
when it exists, else the catalog shipped inside the package
(``flow2api/catalog/models.yaml``, installed as package data), so a wheel
install or a service unit started from any directory finds one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from flow2api.catalog.model import Alias, Catalog, CatalogEntry, CatalogError, Route
from flow2api.catalog.schema import DEFAULT_OPERATIONS, AliasFile, CatalogFile
from flow2api.plugin import Provider

# libyaml's parser is ~10x faster than the pure-Python one on the 2,700-line catalog (spec-sized reloads in ~0.1 s).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = tuple[Any, ...]
RESERVED_IDS = frozenset({"aliases"})
SHIPPED_CATALOG = Path(__file__).with_name("models.yaml")
WORKING_DIR_CATALOG = Path("models.yaml")


def catalog_path(configured: Path | None) -> Path:
    """The catalog file to load: ``configured`` (``[catalog] path``) when set, else ``./models.yaml`` when it
    exists, else :data:`SHIPPED_CATALOG` (the file installed with flow2api). An operator's file always wins."""
    if configured is not None:
        return configured
    return WORKING_DIR_CATALOG if WORKING_DIR_CATALOG.is_file() else SHIPPED_CATALOG


def _read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """Compose once (for line numbers) and construct the data from the same node."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _line_index(node: yaml.Node, path: Loc, out: dict[Loc, int], duplicates: list[tuple[Loc, int]]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            child = path + (key_node.value,)
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                # YAML keeps the last of two equal keys silently; an edited catalog deserves better.
                duplicates.append((child, line))
            seen.add(key_node.value)
            out[child] = line
            _line_index(value_node, child, out, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out, duplicates)


def _line_of(index: Mapping[Loc, int], loc: Loc) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return 1


def _field_path(loc: Loc) -> str:
    text = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid mapping key; the message says so
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


class _Problems:
    """Collects ``<source>:<line>: <field>: <message>`` lines, looking lines up in the YAML index."""

    def __init__(self, source: str, index: Mapping[Loc, int]) -> None:
        self.source, self.index, self.lines = source, index, []

    def line(self, loc: Loc) -> int:
        """The file line of the field at ``loc`` (or of its nearest parent that has one)."""
        return _line_of(self.index, loc)

    def format(self, loc: Loc, message: str) -> str:
        """``<file>:<line>: <field path>: <message>``."""
        return f"{self.source}:{self.line(loc)}: {_field_path(loc)}: {message}"

    def add(self, loc: Loc, message: str) -> None:
        """Record one problem at ``loc``."""
        self.lines.append(self.format(loc, message))

    def add_validation(self, prefix: Loc, exc: ValidationError, extra_word: str) -> None:
        """Record every error of a pydantic ``exc`` under ``prefix``; unknown keys read "unknown <extra_word>"."""
        for err in exc.errors():
            message = f"unknown {extra_word}" if err["type"] == "extra_forbidden" else err["msg"]
            if "[key]" in err["loc"]:
                message = f"not a valid key: {message}"
            self.add(prefix + tuple(err["loc"]), message)


def catalog_digest(text: str) -> str:
    """The catalog's identity in ``/health`` and logs: the first 12 hex digits of the text's SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_catalog(text: str, source: str, providers: Mapping[str, Provider]) -> Catalog:
    """Validate catalog ``text`` (named ``source`` in messages) against the installed ``providers``.

    Returns a :class:`Catalog`; raises :class:`CatalogError` listing every
    problem as ``<source>:<line>: <field>: <message>``.
    """
    try:
        root, raw = _read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError([f"{source}:{line}: (file): not valid YAML: {problem}"]) from None
    index: dict[Loc, int] = {}
    duplicates: list[tuple[Loc, int]] = []
    if root is not None:
        _line_index(root, (), index, duplicates)
    problems = _Problems(source, index)
    for loc, line in duplicates:
        problems.lines.append(f"{source}:{line}: {_field_path(loc)}: duplicate key (YAML would keep only the last one)")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.add((), f"the file must be a mapping with 'models' (and 'aliases'), not a {type(raw).__name__}")
        raise CatalogError(problems.lines)
    try:
        parsed = CatalogFile.model_validate(raw)
    except ValidationError as exc:
        problems.add_validation((), exc, "field")
        raise CatalogError(problems.lines) from None

    warnings: list[str] = []
    entries = _build_entries(parsed, providers, problems, warnings)
    aliases = _build_aliases(parsed.aliases, entries, problems)
    if problems.lines:
        raise CatalogError(problems.lines)
    return Catalog(
        entries=MappingProxyType(entries),
        aliases=MappingProxyType(aliases),
        digest=catalog_digest(text),
        loaded_at=time.time(),
        source=source,
        warnings=tuple(warnings),
    )


def _build_entries(
    parsed: CatalogFile, providers: Mapping[str, Provider], problems: _Problems, warnings: list[str],
) -> dict[str, CatalogEntry]:
    entries: dict[str, CatalogEntry] = {}
    first_line: dict[str, int] = {}
    for i, model in enumerate(parsed.models):
        loc: Loc = ("models", i)
        if model.id in entries:
            problems.add(loc + ("id",), f"duplicate model id '{model.id}' (first defined on line {first_line[model.id]})")
            continue
        if model.id in RESERVED_IDS:
            problems.add(loc + ("id",), f"'{model.id}' is reserved (GET /v1/models/{model.id} lists the aliases)")
        routes = []
        for j, route in enumerate(model.routes):
            rloc = loc + ("routes", j)
            provider = providers.get(route.provider)
            if provider is None:
                warnings.append(problems.format(
                    rloc + ("provider",),
                    f"provider '{route.provider}' is not installed; model '{model.id}' is unavailable through it",
                ))
                routes.append(Route(route.provider, None, frozenset(route.operations or DEFAULT_OPERATIONS)))
                continue
            if model.kind not in provider.kinds:
                problems.add(rloc + ("provider",), f"provider '{route.provider}' does not produce {model.kind.value}s")
                continue
            try:
                options = provider.Options.model_validate(route.options)
            except ValidationError as exc:
                problems.add_validation(rloc + ("options",), exc, "option")
                continue
            operations = frozenset(route.operations) if route.operations else DEFAULT_OPERATIONS
            routes.append(Route(route.provider, options, operations))
        entries[model.id] = CatalogEntry(model.id, model.kind, model.description, model.enabled, tuple(routes))
        first_line[model.id] = problems.line(loc)
    return entries


def _build_aliases(files: list[AliasFile], entries: Mapping[str, CatalogEntry], problems: _Problems) -> dict[str, Alias]:
    aliases: dict[str, Alias] = {}
    first_line: dict[str, int] = {}
    for i, item in enumerate(files):
        loc: Loc = ("aliases", i)
        ok = True
        if item.id in first_line:
            problems.add(loc + ("id",), f"duplicate alias id '{item.id}' (first defined on line {first_line[item.id]})")
            continue
        if item.id in RESERVED_IDS:
            problems.add(loc + ("id",), f"'{item.id}' is reserved (GET /v1/models/{item.id} lists the aliases)")
            ok = False
        if item.alias_of is not None:
            legacy = _legacy_alias(item, loc, entries, problems)
            first_line[item.id] = problems.line(loc)
            if ok and legacy is not None:
                aliases[item.id] = legacy
            continue
        concrete = entries.get(item.id)
        if concrete is not None and not item.also_concrete:
            problems.add(loc + ("id",), f"alias id '{item.id}' is also a model id; ids must be unique "
                         "(set also_concrete: true if the alias is meant to redirect that model)")
            ok = False
        elif concrete is None and item.also_concrete:
            problems.add(loc + ("also_concrete",), f"also_concrete is true but there is no model '{item.id}'")
            ok = False
        ok = _check_targets(item, item.targets, loc + ("targets",), entries, problems) and ok
        for seconds, table in item.durations.items():
            ok = _check_targets(item, table, loc + ("durations", seconds), entries, problems) and ok
        if ok and item.also_concrete and item.targets[item.default_aspect]["none"] != item.id:
            # Spec §4.4: a request without hints must keep the concrete id's behaviour.
            problems.add(loc + ("targets", item.default_aspect, "none"),
                         f"an also_concrete alias must resolve to itself ('{item.id}') without hints")
            ok = False
        first_line[item.id] = problems.line(loc)
        if ok:
            aliases[item.id] = Alias(
                id=item.id, kind=item.kind, description=item.description, enabled=item.enabled,
                also_concrete=item.also_concrete, default_aspect=item.default_aspect, hints=frozenset(item.hints),
                targets=_frozen(item.targets),
                durations=MappingProxyType({seconds: _frozen(t) for seconds, t in item.durations.items()}),
            )
    return aliases


def _legacy_alias(item: AliasFile, loc: Loc, entries: Mapping[str, CatalogEntry], problems: _Problems) -> Alias | None:
    """The :class:`Alias` of a legacy id (``alias_of``): always its one model, no hints; ``None`` when unsound."""
    assert item.alias_of is not None
    target = entries.get(item.alias_of)
    if item.id in entries:
        problems.add(loc + ("id",), f"legacy id '{item.id}' is also a model id; drop the model or the alias")
        return None
    if target is None:
        problems.add(loc + ("alias_of",), f"alias_of '{item.alias_of}' is not a model id")
        return None
    if item.kind is not None and item.kind != target.kind:
        problems.add(loc + ("kind",), f"alias_of '{item.alias_of}' is a {target.kind.value} model, not {item.kind.value}")
        return None
    return Alias(id=item.id, kind=target.kind, description=item.description or target.description,
                 enabled=item.enabled, also_concrete=False, default_aspect=item.default_aspect, hints=frozenset(),
                 targets=_frozen({item.default_aspect: {"none": target.id}}), alias_of=target.id)


def _frozen(targets: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({a: MappingProxyType(dict(t)) for a, t in targets.items()})


def _check_targets(item: AliasFile, targets: Mapping[str, Mapping[str, str]], loc: Loc,
                   entries: Mapping[str, CatalogEntry], problems: _Problems) -> bool:
    """Check one aspect → size → model table of ``item`` (``targets`` or a ``durations`` row); True when sound."""
    ok = True
    if item.default_aspect not in targets:
        problems.add(loc[:2] + ("default_aspect",) if loc[-1] == "targets" else loc,
                     f"default aspect '{item.default_aspect}' has no row in {_field_path(loc[2:])}")
        ok = False
    for aspect, table in targets.items():
        tloc = loc + (aspect,)
        if "none" not in table:
            problems.add(tloc, "every aspect needs a 'none' (no upsampling) target")
            ok = False
        for size, target in table.items():
            entry = entries.get(target)
            if entry is None:
                problems.add(tloc + (size,), f"alias target '{target}' is not a model id")
                ok = False
            elif entry.kind != item.kind:
                problems.add(tloc + (size,), f"alias target '{target}' is a {entry.kind.value} model, not {item.kind.value}")
                ok = False
    return ok


def load_catalog(path: Path, providers: Mapping[str, Provider]) -> Catalog:
    """Read and validate the catalog file at ``path``; raises :class:`CatalogError` (also when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CatalogError([f"{path}:1: (file): cannot read: {reason}"]) from None
    return parse_catalog(text, str(path), providers)
