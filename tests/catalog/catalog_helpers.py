"""Helpers of the catalog tests: tiny fake providers, catalog text builders, the echo plugin's entry points."""

from __future__ import annotations

import configparser
import textwrap
from importlib.metadata import EntryPoint
from typing import Literal

from pydantic import BaseModel, ConfigDict

from flow2api.plugin import Kind
from flow2api.testing import REPO, FakeProvider, copy_models_yaml, until, write_in_place, write_replace  # noqa: F401

ECHO_DIR = REPO / "tests" / "plugins" / "echo_provider"


class PaintOptions(BaseModel):
    """Options of the fake providers: a colour (checked) and an optional ratio label."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    color: Literal["red", "green", "blue"]
    ratio: str = "16:9"


def paint_provider(name: str, kind: Kind) -> FakeProvider:
    """A :class:`flow2api.testing.FakeProvider` with :class:`PaintOptions`, described by its colour (the loader
    tests never ask it to generate)."""
    return FakeProvider(name, kind, options=PaintOptions, describe=lambda options: {"color": options.color})


PROVIDERS = {"paint": paint_provider("paint", Kind.IMAGE), "film": paint_provider("film", Kind.VIDEO)}


def catalog_text(body: str) -> str:
    """Dedent a catalog written inline in a test."""
    return textwrap.dedent(body).lstrip("\n")


SMALL = catalog_text("""
    version: 1
    models:
    - id: pic-landscape
      kind: image
      routes:
      - provider: paint
        options: {color: red, ratio: "16:9"}
    - id: pic-portrait
      kind: image
      routes:
      - provider: paint
        options: {color: green, ratio: "9:16"}
    - id: pic-square
      kind: image
      routes:
      - provider: paint
        options: {color: blue, ratio: "1:1"}
    - id: pic-landscape-4k
      kind: image
      routes:
      - provider: paint
        options: {color: red}
    - id: clip
      kind: video
      routes:
      - provider: film
        options: {color: red}
    - id: clip-portrait
      kind: video
      routes:
      - provider: film
        options: {color: blue}
    aliases:
    - id: pic
      kind: image
      targets:
        landscape: {none: pic-landscape, 4k: pic-landscape-4k}
        portrait: {none: pic-portrait}
        square: {none: pic-square}
    - id: clip
      kind: video
      also_concrete: true
      hints: [aspect_ratio, size, image_size, image_dims]
      targets:
        landscape: {none: clip}
        portrait: {none: clip-portrait}
""")


def echo_entry_points() -> list[EntryPoint]:
    """The ``flow2api.providers`` entry points the echo plugin's ``setup.cfg`` declares, as installers would register them."""
    config = configparser.ConfigParser()
    config.read(ECHO_DIR / "setup.cfg", encoding="utf-8")
    lines = config["options.entry_points"]["flow2api.providers"].strip().splitlines()
    points = []
    for line in lines:
        name, _, value = (part.strip() for part in line.partition("="))
        points.append(EntryPoint(name=name, value=value, group="flow2api.providers"))
    return points


def echo_model(model_id: str = "echo-red", color: str = "red", width: int = 64, height: int = 36) -> str:
    """A ``models:`` item routed to the echo plugin, indented for appending to a catalog's model list."""
    return (
        f"- id: {model_id}\n  kind: image\n  description: painted by the echo plugin\n  routes:\n"
        f"  - provider: echo-image\n    options: {{color: {color}, width: {width}, height: {height}}}\n"
    )


def with_models(text: str, items: str) -> str:
    """``text`` (a catalog with ``models:`` before ``aliases:``) with ``items`` appended to its model list."""
    head, sep, tail = text.partition("\n# Resolver aliases.")
    if not sep:
        head, sep, tail = text.partition("\naliases:")
    return head.rstrip("\n") + "\n" + items + sep + tail




def png_bytes(width: int, height: int, color: str = "white", fmt: Literal["PNG", "JPEG", "WEBP"] = "PNG") -> bytes:
    """An encoded image of the given pixel size (Pillow)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format=fmt)
    return buffer.getvalue()
