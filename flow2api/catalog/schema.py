"""The shape of ``models.yaml`` as pydantic models (``extra="forbid"``): what a file may say, before cross-checks.

See ``docs/catalog.md`` for the format with examples. Cross-checks that need
the whole file or the installed providers (unique ids, alias targets, provider
options) live in :mod:`flow2api.catalog.loader`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flow2api.plugin import Kind

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"

Aspect = Literal["landscape", "portrait", "square", "four-three", "three-four"]
SizeKey = Literal["none", "2k", "4k", "1080p", "360p"]
HintName = Literal["aspect_ratio", "size", "image_size", "quality", "image_dims", "seconds"]
#: What a request asks of a route (see ``docs/catalog.md``): generate from the prompt alone, from input images
#: (i2v, first+last, references, image edit), continue a source video, or edit a source video.
Operation = Literal["text", "images", "extend", "edit"]
#: The operations of a route that lists none: everything but ``edit`` (what every route did before the flag).
DEFAULT_OPERATIONS: frozenset[str] = frozenset({"text", "images", "extend"})


class RouteFile(BaseModel):
    """``models[].routes[]``: a provider id (entry-point name), that provider's ``options`` and, optionally, the
    ``operations`` the route can do (default :data:`DEFAULT_OPERATIONS`); a job is never sent to a route that
    cannot do its operation."""

    model_config = ConfigDict(extra="forbid")
    provider: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    operations: list[Operation] | None = Field(None, min_length=1)


class ModelFile(BaseModel):
    """``models[]``: one public model id."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=ID_PATTERN)
    kind: Kind
    description: str = ""
    enabled: bool = True
    routes: list[RouteFile] = Field(min_length=1)


class AliasFile(BaseModel):
    """``aliases[]``: one resolver alias (spec §4.4), its rule written as a table.

    ``targets`` maps aspect word → size key → model id, e.g.
    ``{landscape: {none: m-landscape, 2k: m-landscape-2k}, portrait: {none: m-portrait}}``.
    ``durations`` (videos) maps a clip length in seconds to such a table; a request's ``seconds`` picks it
    (one the alias lacks is a 400), a request without ``seconds`` uses ``targets``.

    The short form ``{id: old-id, alias_of: model-id}`` is a **legacy id**: it always resolves to that one
    model (its kind is the model's; no ``targets``, ``durations``, ``hints`` or ``also_concrete``), keeps an
    old id working and is left out of the model lists (``docs/catalog.md``, "Legacy ids").
    """

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=ID_PATTERN)
    kind: Kind | None = None
    alias_of: str | None = Field(None, pattern=ID_PATTERN)
    description: str = ""
    enabled: bool = True
    also_concrete: bool = False
    default_aspect: Aspect = "landscape"
    hints: list[HintName] = Field(
        default_factory=lambda: ["aspect_ratio", "size", "image_size", "quality", "image_dims", "seconds"])
    targets: dict[Aspect, dict[SizeKey, str]] = Field(default_factory=dict)
    durations: dict[int, dict[Aspect, dict[SizeKey, str]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_form(self) -> AliasFile:
        """Either the table form (``kind`` and ``targets``) or the legacy form (``alias_of`` alone)."""
        if self.alias_of is not None:
            extra = [name for name in ("targets", "durations", "hints", "also_concrete", "default_aspect")
                     if name in self.model_fields_set]
            if extra:
                raise ValueError(f"an alias_of alias takes no {', '.join(extra)} (it always resolves to one model)")
        elif self.kind is None or not self.targets:
            raise ValueError("an alias needs 'kind' and 'targets' (or 'alias_of: <model id>' for a legacy id)")
        return self


class CatalogFile(BaseModel):
    """The whole file: ``version`` (1), ``models`` (at least one) and ``aliases``."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    models: list[ModelFile] = Field(min_length=1)
    aliases: list[AliasFile] = Field(default_factory=list)
