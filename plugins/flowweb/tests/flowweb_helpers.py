"""Helpers of the flowweb tests: the emulator handle, settings, accounts, input images, SDK calls, downloads."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI
from PIL import Image

from flow2api.settings import Settings
from flow2api.testing import API_KEY, Gateway, make_settings
from flow2api_flowweb import FlowWebImageProvider, FlowWebVideoProvider
from flow2api_flowweb.emulator import EmulatorAccount, FlowWebEmulator

HERE = Path(__file__).resolve().parent
CATALOG = HERE / "catalog.yaml"
FLOWWEB_FACTORIES = {"flowweb-image": FlowWebImageProvider, "flowweb-video": FlowWebVideoProvider}
EXECUTOR_TOKEN = "test-executor-token-0123456789"


@dataclass
class FlowWeb:
    """The emulator and where it listens."""

    emulator: FlowWebEmulator
    server: TestServer

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def sections(self, **flowweb: object) -> dict[str, dict[str, object]]:
        """``[flowweb]`` (+ overrides) and ``[flowweb_captcha]`` pointing at this emulator."""
        sections = self.emulator.sections(self.base)
        sections["flowweb"].update({"executor_token": EXECUTOR_TOKEN, **flowweb})
        return sections


def flowweb_settings(tmp_path: Path, flowweb: FlowWeb, *, catalog: Path = CATALOG, **flowweb_keys: object) -> Settings:
    """Settings with the test catalog and the flowweb sections pointing at the emulator."""
    return make_settings(tmp_path, catalog={"path": str(catalog)}, **flowweb.sections(**flowweb_keys))


async def add_flowweb_account(gateway: Gateway, account: EmulatorAccount, *, json_export: bool = False) -> int:
    """Add an emulator account through ``pool.add`` with its cookie export; returns the account id."""
    text = account.cookies_json() if json_export else account.cookies_txt()
    record = await gateway.pool.add("flowweb", {"cookies": text})
    return record.id


def sdk(gateway: Gateway) -> AsyncOpenAI:
    """The official openai SDK pointed at the gateway."""
    return AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0, timeout=60)

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"


def png_data_uri(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (64, 48)) -> str:
    """A small PNG as a ``data:`` URI."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def message(prompt: str, images: Sequence[str] = ()) -> list[dict]:
    """One user message with text and ``image_url`` parts."""
    if not images:
        return [{"role": "user", "content": prompt}]
    parts: list[dict] = [{"type": "text", "text": prompt}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return [{"role": "user", "content": parts}]


async def chat(gateway: Gateway, model: str, prompt: str, images: Sequence[str] = (), *, stream: bool = False) -> str:
    """The assistant content of one chat completion (streamed chunks joined when ``stream``)."""
    client = sdk(gateway)
    if not stream:
        completion = await client.chat.completions.create(model=model, messages=message(prompt, images))
        return completion.choices[0].message.content or ""
    chunks = [c async for c in await client.chat.completions.create(model=model, messages=message(prompt, images),
                                                                    stream=True)]
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def result_url(content: str) -> str:
    """The URL of an image markdown or a ``<video>`` tag."""
    found = re.search(r"!\[Generated Image\]\(([^)]+)\)", content) or re.search(r"<video src='([^']+)'", content)
    assert found, content
    return found.group(1)


async def download(url: str) -> tuple[bytes, str]:
    """Body and Content-Type of ``url``."""
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, url
        return await resp.read(), resp.content_type
