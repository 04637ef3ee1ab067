"""The shape of ``models.yaml`` as pydantic models (``extra="forbid"``): what a file may say, before cross-checks.

See ``docs/catalog.md`` for the format with examples. Cross-checks that need
the whole file or the installed providers (unique ids, alias targets, provider
options) live in :mod:`flow2api.catalog.loader`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flow2api.plugin import Kind

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"

Aspect = Literal["landscape", "portrait", "square", "four-three", "three-four"]
SizeKey = Literal["none", "2k", "4k", "1080p"]
HintName = Literal["aspect_ratio", "size", "image_size", "quality", "image_dims"]


class RouteFile(BaseModel):
    """``models[].routes[]``: a provider id (entry-point name) and that provider's ``options``."""

    model_config = ConfigDict(extra="forbid")
    provider: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


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
    """

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, pattern=ID_PATTERN)
    kind: Kind
    description: str = ""
    enabled: bool = True
    also_concrete: bool = False
    default_aspect: Aspect = "landscape"
    hints: list[HintName] = Field(default_factory=lambda: ["aspect_ratio", "size", "image_size", "quality", "image_dims"])
    targets: dict[Aspect, dict[SizeKey, str]] = Field(min_length=1)


class CatalogFile(BaseModel):
    """The whole file: ``version`` (1), ``models`` (at least one) and ``aliases``."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    models: list[ModelFile] = Field(min_length=1)
    aliases: list[AliasFile] = Field(default_factory=list)
