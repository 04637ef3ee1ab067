"""Benchmark: the full flow2api pipeline versus calling the emulator directly (issue 5).

An image request the emulator answers at once (64 px images, reCAPTCHA ready
immediately) is sent (a) straight to the emulator — the same upstream call
sequence flow2api makes: solver createTask, the solver poll interval (10 ms),
getTaskResult, batchGenerateImages, fetch of the image URL — and (b) through
flow2api's /v1/chat/completions
(auth → rate limit → route → lease → proxy → provider → media cache). Printed:
requests/s and p50/p99 latency of each, and the ratios, at 50 and 200
concurrent clients. Run: ``.venv/bin/python bench/pipeline.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import SOLVER_POLL, Emulator, Gateway, emulator, gateway, load  # noqa: E402

MODEL = "gemini-3.1-flash-image-landscape"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/149.0.0.0 Safari/537.36"


async def direct_setup(upstream: Emulator) -> tuple[str, str]:
    """AT and project of the demo account, as flow2api would hold them."""
    from flow2api_videofx.emulator import DEMO_ST

    async with aiohttp.ClientSession() as s:
        cookie = {"Cookie": f"__Secure-next-auth.session-token={DEMO_ST}"}
        async with s.get(f"{upstream.base}/fx/api/auth/session", headers=cookie) as r:
            at = (await r.json())["access_token"]
        body = {"json": {"projectTitle": "bench", "toolName": "PINHOLE"}}
        async with s.post(f"{upstream.base}/fx/api/trpc/project.createProject", json=body, headers=cookie) as r:
            project = (await r.json())["result"]["data"]["json"]["result"]["projectId"]
    return at, project


def direct_call(upstream: Emulator, at: str, project: str, via: str | None = None):  # noqa: ANN201
    """One image generation straight against the emulator, the way flow2api's provider does it.

    ``via`` sends every call (the image URL included) to that base instead, e.g. a pass-through proxy.
    """
    base = via or upstream.base

    async def one(s: aiohttp.ClientSession) -> bool:
        page = f"https://labs.google/fx/tools/flow/project/{project}"
        task = {"type": "RecaptchaV3TaskProxylessM1S9", "websiteURL": page, "pageAction": "IMAGE_GENERATION",
                "websiteKey": "6LdsFiUsAAAAAIjVDZcuLhaHiDn5nnHVXVRQGeMV", "userAgent": UA, "minScore": 0.9}
        async with s.post(f"{base}/solver/createTask",
                          json={"clientKey": "emulator-solver-key", "task": task}) as r:
            task_id = (await r.json())["taskId"]
        await asyncio.sleep(SOLVER_POLL)  # flow2api's provider waits [captcha] solver_poll_interval before polling
        async with s.post(f"{base}/solver/getTaskResult",
                          json={"clientKey": "emulator-solver-key", "taskId": task_id}) as r:
            token = (await r.json())["solution"]["gRecaptchaResponse"]
        context = {"recaptchaContext": {"token": token, "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"},
                   "sessionId": f";{int(time.time() * 1000)}", "projectId": project, "tool": "PINHOLE"}
        body = {"clientContext": context, "mediaGenerationContext": {"batchId": str(uuid.uuid4())},
                "useNewMedia": True, "requests": [{
                    "clientContext": context, "seed": 1234, "imageModelName": "NARWHAL",
                    "imageAspectRatio": "IMAGE_ASPECT_RATIO_LANDSCAPE",
                    "structuredPrompt": {"parts": [{"text": "a kite"}]}, "imageInputs": []}]}
        headers = {"authorization": f"Bearer {at}", "User-Agent": UA, "Content-Type": "application/json"}
        async with s.post(f"{base}/v1/projects/{project}/flowMedia:batchGenerateImages",
                          data=json.dumps(body), headers=headers) as r:
            if r.status != 200:
                return False
            url = (await r.json())["media"][0]["image"]["generatedImage"]["fifeUrl"]
        async with s.get(url.replace(upstream.base, base, 1)) as r:
            await r.read()
            return r.status == 200

    return one


def gateway_call(gw: Gateway):  # noqa: ANN201
    """One non-streaming image chat completion through flow2api, fetching the result like a client would."""
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "a kite"}]})
    headers = {"Authorization": f"Bearer {gw.api_key}", "Content-Type": "application/json"}

    async def one(s: aiohttp.ClientSession) -> bool:
        async with s.post(f"{gw.base}/v1/chat/completions", data=body, headers=headers) as r:
            if r.status != 200:
                return False
            content = (await r.json())["choices"][0]["message"]["content"]
        async with s.get(content[content.index("(") + 1:-1]) as r:
            await r.read()
            return r.status == 200

    return one


async def main(total: int) -> None:
    async with emulator() as upstream, gateway(upstream) as gw:
        at, project = await direct_setup(upstream)
        await load("warm-up", 10, 40, gateway_call(gw))
        print(f"{'':34} (each run: {total} requests)")
        for concurrency in (50, 200):
            direct = await load(f"direct to emulator, c={concurrency}", concurrency, total, direct_call(upstream, at, project))
            through = await load(f"through flow2api, c={concurrency}", concurrency, total, gateway_call(gw))
            print(direct.line())
            print(through.line())
            print(f"{'':34} ratio rps {through.rps / direct.rps:.2f}x   added latency p50 "
                  f"{(through.percentile(50) - direct.percentile(50)) * 1000:+.1f} ms  p99 "
                  f"{(through.percentile(99) - direct.percentile(99)) * 1000:+.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per run (default 1000)")
    asyncio.run(main(parser.parse_args().requests))
