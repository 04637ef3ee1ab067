"""A catalogue of malformed requests for every public endpoint (the bad-input drill, issue 8).

flow2api publishes no OpenAPI description, so instead of schemathesis the
cases are made by hand and multiplied in loops with a seeded ``random.Random``:
:func:`cases` yields as many :class:`Case` objects as asked for, cycling over
the generators below, each of which varies its output with the random source.
Every case must be refused (4xx) by a correct server without side effects:
none may create a task, reach upstream or change stored data.

Categories: invalid JSON (syntax, encodings, nesting, non-objects), wrong
types for every field, bodies over the size limit, invalid base64 and data
URIs, images of the wrong type or too large, unknown models (long, Unicode,
path-like), 1 MB prompts (with an unknown model or a wrong-typed field),
Unicode edge cases (lone surrogates, NUL, bidi controls, non-UTF-8 bytes) in
bodies, paths, queries and headers, missing or broken API keys, wrong
methods, unknown paths, broken multipart bodies, bad query parameters, and
media names that are not ours.
"""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from PIL import Image

IMAGE_MODEL = "gemini-3.1-flash-image-landscape"
VIDEO_MODEL = "veo_3_1_t2v_fast_landscape"
GEMINI_MODEL = "gemini-3.1-flash-image"
OVER_LIMIT = 3 * 1024 * 1024  # the drill's server accepts 2 MiB bodies
IMAGE_LIMIT = 64 * 1024  # and 64 KiB input images


@dataclass(frozen=True)
class Case:
    """One request: ``surface`` is the error shape the answer must have (``openai``, ``gemini`` or ``plain``)."""

    category: str
    method: str
    path: str
    surface: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True  # send the drill's valid API key


def _png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()
PNG_B64 = base64.b64encode(PNG).decode()
BIG_PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (IMAGE_LIMIT + 10)).decode()
NOT_IMAGES = [
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"II*\x00\x08\x00\x00\x00",
    b"plain text, not an image", b"\x00" * 64, b"GIF8", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"\x1a\x45\xdf\xa3webm",
]
UNICODE = [
    "\ud800", "\udfff", "a\ud83dz", "\u0000", "nul\x00inside", "\u202eevil\u202c", "\u200b\u200c\u200d\ufeff",
    "\U0001f600" * 50, "e\u0301" * 100, "\uffff\ufffe", "\x7f\x1b[31m", "A" * 5000, "\u0130\u0131\u017f",
    "\U0010ffff", "../../etc/passwd", "%00", "models/../../x",
]
BAD_JSON = [
    b"", b"{", b"}", b"{\"model\": ", b"{\"model\": \"x\",}", b"[1, 2", b"NaN", b"{'model': 'x'}", b"\xff\xfe{\x00}\x00",
    b"\xef\xbb\xbf{\"model\": 1}", b"{\"model\": \"\xc3\x28\"}", b"\xc0\xaf", b"{\"a\":" * 50 + b"1" + b"}" * 50,
    b"[" * 100_000 + b"]" * 100_000, b"{\"a\": " * 30_000 + b"1" + b"}" * 30_000, b"null", b"123", b"\"string\"",
    b"[]", b"[{\"model\": \"x\"}]", b"true", b"{\"model\": \"x\"} trailing", b"\x00\x00\x00",
]
WRONG_VALUES: list[Any] = [None, 0, -1, 1.5, 10**30, True, "", [], {}, ["x"], {"a": 1}, "\ud800", float("1e308")]

Generator = Callable[[random.Random], Case]


def _json(value: Any, *, ascii_only: bool = True) -> bytes:
    """JSON bytes; with ``ascii_only`` lone surrogates become valid JSON escapes (``"\\ud800"``) of invalid Unicode."""
    return json.dumps(value, allow_nan=True, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _pick(rng: random.Random, items: list[Any]) -> Any:
    return items[rng.randrange(len(items))]


def _openai_post(rng: random.Random) -> str:
    return _pick(rng, ["/v1/chat/completions", "/v1/images/generations", "/v1/images/edits", "/v1/videos"])


def _gemini_post(rng: random.Random) -> str:
    method = _pick(rng, ["generateContent", "streamGenerateContent"])
    return f"/v1beta/models/{GEMINI_MODEL}:{method}"


def invalid_json(rng: random.Random) -> Case:
    body = _pick(rng, BAD_JSON)
    if rng.random() < 0.5:
        return Case("invalid json", "POST", _openai_post(rng), "openai", body, {"Content-Type": "application/json"})
    return Case("invalid json", "POST", _gemini_post(rng), "gemini", body or b"{", {"Content-Type": "application/json"})


def wrong_types(rng: random.Random) -> Case:
    bad = _pick(rng, WRONG_VALUES)
    path = _pick(rng, ["chat", "images", "videos", "gemini"])
    if path == "chat":
        body = _pick(rng, [
            {"model": bad, "messages": [{"role": "user", "content": "x"}]},
            {"model": IMAGE_MODEL, "messages": bad},
            {"model": IMAGE_MODEL, "messages": [bad]},
            {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": bad}]},
            {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": bad}]}]},
            {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": [bad]}]},
            {"model": IMAGE_MODEL, "messages": []},
        ])
        return Case("wrong types", "POST", "/v1/chat/completions", "openai", _json(body))
    if path == "images":
        key = _pick(rng, ["model", "prompt", "n", "response_format", "size", "quality"])
        body = {"model": IMAGE_MODEL, "prompt": "a kite", key: bad if key in ("model", "prompt", "n") else
                _pick(rng, [5, ["url"], "sideways", -3, {"a": 1}])}
        if key == "n":
            body["n"] = _pick(rng, [0, -1, 11, 10**9, 1.5, "two", [], {}, "\ud800"])
        if key in ("size", "quality"):
            body["model"] = _pick(rng, [None, 5, "", "no-such-model"])
        return Case("wrong types", "POST", "/v1/images/generations", "openai", _json(body))
    if path == "videos":
        body = _pick(rng, [
            {"model": bad, "prompt": "a kite"}, {"model": VIDEO_MODEL, "prompt": bad if bad != "x" else None},
            {"model": VIDEO_MODEL, "prompt": "a kite", "seconds": _pick(rng, ["eight", -8, 1.5, "1000", [8], "8s"])},
            {"model": VIDEO_MODEL, "prompt": "a kite", "input_reference": _pick(rng, [5, [1], True, {"file_id": "f"}])},
            {"model": IMAGE_MODEL, "prompt": "an image model on the video endpoint"},
        ])
        return Case("wrong types", "POST", "/v1/videos", "openai", _json(body))
    body = _pick(rng, [
        {"contents": bad}, {"contents": [bad]}, {"contents": [{"role": "user", "parts": bad}]},
        {"contents": [{"role": "user", "parts": [bad]}]}, {"contents": [{"role": "model", "parts": [{"text": "x"}]}]},
        {"contents": [{"role": "user", "parts": [{"inlineData": bad}]}]},
        {"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": bad}}]}]},
        {"contents": []},
    ])
    return Case("wrong types", "POST", _gemini_post(rng), "gemini", _json(body))


def over_limit(rng: random.Random) -> Case:
    size = OVER_LIMIT + rng.randrange(1024)
    kind = rng.randrange(3)
    if kind == 0:
        body = b'{"model": "' + b"m" * size + b'"}'
        return Case("body over limit", "POST", _openai_post(rng), "openai", body, {"Content-Type": "application/json"})
    if kind == 1:
        body = b'{"contents": [{"parts": [{"text": "' + b"t" * size + b'"}]}]}'
        return Case("body over limit", "POST", _gemini_post(rng), "gemini", body, {"Content-Type": "application/json"})
    boundary = "drillboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + b"\0" * size + f"\r\n--{boundary}--\r\n".encode()
    path = _pick(rng, ["/v1/images/edits", "/v1/videos"])
    return Case("body over limit", "POST", path, "openai", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def bad_images(rng: random.Random) -> Case:
    uri = _pick(rng, [
        "data:image/png;base64,!!!not base64!!!", "data:image/png;base64," + PNG_B64[:-2] + "!=", "data:image/png," + PNG_B64,
        "data:;base64,", "data:image/png;base64,", "data:text/plain;base64," + base64.b64encode(b"hello").decode(),
        "data:image/png;base64," + base64.b64encode(_pick(rng, NOT_IMAGES)).decode(),
        "data:image/png;base64," + BIG_PNG_B64, "javascript:alert(1)", "file:///etc/passwd", "ftp://127.0.0.1/x.png",
        "http://127.0.0.1:9/closed-port.png", "/media/not-a-cached-file.png", "data:image/png;base64,\ud800",
        "gopher://127.0.0.1:70/", "data:image/png;base64," + "A" * 7,
    ])
    target = rng.randrange(5)
    if target == 0:
        content = [{"type": "text", "text": "edit this"}, {"type": "image_url", "image_url": {"url": uri}}]
        body = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": content}]}
        return Case("bad image", "POST", "/v1/chat/completions", "openai", _json(body))
    if target == 1:
        body = {"model": IMAGE_MODEL, "prompt": "edit", "images": [{"image_url": uri}]}
        return Case("bad image", "POST", "/v1/images/edits", "openai", _json(body))
    if target == 2:
        body = {"model": VIDEO_MODEL, "prompt": "animate", "input_reference": _pick(rng, [uri, {"image_url": uri}])}
        return Case("bad image", "POST", "/v1/videos", "openai", _json(body))
    if target == 3:
        data = _pick(rng, ["!!!not base64!!!", PNG_B64[:-2] + "!=", BIG_PNG_B64, "", "\ud800", "A" * 7,
                           base64.b64encode(_pick(rng, NOT_IMAGES)).decode()])
        part = {"inlineData": {"mimeType": _pick(rng, ["image/png", "application/pdf", "video/mp4", ""]), "data": data}}
        if rng.random() < 0.3:  # a valid image of a type that is not accepted, or a URI we will not fetch
            part = _pick(rng, [{"inlineData": {"mimeType": "application/pdf", "data": PNG_B64}},
                               {"fileData": {"mimeType": "image/png", "fileUri": uri}}])
        body = {"contents": [{"role": "user", "parts": [{"text": "edit"}, part]}]}
        return Case("bad image", "POST", _gemini_post(rng), "gemini", _json(body))
    boundary = "drillboundary"
    payload = _pick(rng, [*NOT_IMAGES, b"\x89PNG\r\n\x1a\n" + b"\0" * (IMAGE_LIMIT + 1), b""])
    name = _pick(rng, ["image", "image[]", "input_reference", "mask"])
    path = "/v1/videos" if name == "input_reference" else "/v1/images/edits"
    model = VIDEO_MODEL if path == "/v1/videos" else IMAGE_MODEL
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nedit\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    if name == "mask":  # a valid image plus a mask: refused (Flow has no masked edits)
        body = body.replace(f"--{boundary}--".encode(), (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + PNG + f"\r\n--{boundary}--".encode())
    return Case("bad image", "POST", path, "openai", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def unknown_models(rng: random.Random) -> Case:
    model = _pick(rng, [
        "no-such-model", "gpt-4o", "veo_99", "x" * rng.randrange(100, 20_000), _pick(rng, UNICODE), "models/x/" + IMAGE_MODEL,
        IMAGE_MODEL.upper(), IMAGE_MODEL + " ", " " + IMAGE_MODEL, IMAGE_MODEL + "\n", "*", "%", "gemini-3.1-flash-image-landscape/../x",
    ])
    target = rng.randrange(4)
    if target == 0:
        body = {"model": model, "messages": [{"role": "user", "content": "a kite"}], "stream": rng.random() < 0.5}
        return Case("unknown model", "POST", "/v1/chat/completions", "openai", _json(body))
    if target == 1:
        return Case("unknown model", "POST", _pick(rng, ["/v1/images/generations", "/v1/videos"]), "openai",
                    _json({"model": model, "prompt": "a kite"}))
    if target == 2:
        name = quote(model.encode("utf-8", "surrogatepass"), safe="")[:8000]
        method = _pick(rng, ["generateContent", "streamGenerateContent"])
        return Case("unknown model", "POST", f"/v1beta/models/{name}:{method}", "gemini",
                    _json({"contents": [{"parts": [{"text": "a kite"}]}]}))
    name = quote(model.encode("utf-8", "surrogatepass"), safe="")[:8000]
    path = _pick(rng, [f"/v1/models/{name}", f"/v1beta/models/{name}"])
    return Case("unknown model", "GET", path, "gemini" if path.startswith("/v1beta") else "openai")


def huge_prompts(rng: random.Random) -> Case:
    char = _pick(rng, ["p", "\U0001f600", "\u202e"])
    prompt = char * (1024 * 1024 // len(char.encode()))  # 1 MiB of UTF-8
    target = rng.randrange(3)
    if target == 0:  # a 1 MB prompt, and a model that does not exist
        body = {"model": "no-such-model", "messages": [{"role": "user", "content": prompt}]}
        return Case("1 MB prompt", "POST", "/v1/chat/completions", "openai", _json(body, ascii_only=False))
    if target == 1:  # a 1 MB prompt, and n out of range
        body = {"model": IMAGE_MODEL, "prompt": prompt, "n": 99}
        return Case("1 MB prompt", "POST", "/v1/images/generations", "openai", _json(body, ascii_only=False))
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    return Case("1 MB prompt", "POST", "/v1beta/models/no-such-model:generateContent", "gemini",
                _json(body, ascii_only=False))


def unicode_edges(rng: random.Random) -> Case:
    text = _pick(rng, UNICODE)
    target = rng.randrange(6)
    if target == 0:  # an unencodable prompt: a lone surrogate cannot be stored or sent as UTF-8
        body = {"model": _pick(rng, [IMAGE_MODEL, "no-such-model"]),
                "messages": [{"role": "user", "content": f"a kite {text}" if "\ud800" <= text[:1] <= "\udfff" else "\ud800"}]}
        return Case("unicode", "POST", "/v1/chat/completions", "openai", _json(body))
    if target == 1:
        body = {"model": IMAGE_MODEL, "prompt": "\udfff" + text, "n": _pick(rng, [1, 2])}
        return Case("unicode", "POST", "/v1/images/generations", "openai", _json(body))
    if target == 2:
        body = {"contents": [{"role": "user", "parts": [{"text": "\ud83d!" + text}]}]}
        return Case("unicode", "POST", _gemini_post(rng), "gemini", _json(body))
    if target == 3:
        segment = quote(text.encode("utf-8", "surrogatepass"), safe="")[:4000]
        path = _pick(rng, [f"/v1/videos/{segment}", f"/v1/videos/{segment}/content", f"/v1/{segment}",
                           f"/v1beta/{segment}", f"/v1/videos?after={segment}&limit={segment}"])
        method = "DELETE" if path.startswith("/v1/videos/") and rng.random() < 0.3 else "GET"
        return Case("unicode", method, path, "gemini" if path.startswith("/v1beta") else "openai")
    if target == 4:  # non-UTF-8 bytes where a JSON string is expected
        body = b'{"model": "' + _pick(rng, [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + b'", "prompt": "x"}'
        return Case("unicode", "POST", _openai_post(rng), "openai", body, {"Content-Type": "application/json"})
    header = _pick(rng, ["Bearer \u00e9\u00e8", "Bearer " + "k" * 9000, "Bearer", "Basic dXNlcjpwYXNz", "bearer  ",
                         "Bearer test-api-key-0123456789x", "Token test-api-key-0123456789"])
    path = _pick(rng, ["/v1/models", "/v1/videos", "/v1/chat/completions", "/v1beta/models"])
    surface = "gemini" if path.startswith("/v1beta") else "openai"
    if len(header) > 8190:  # aiohttp's HTTP parser refuses the line (plain 400) before any flow2api code runs
        surface = "plain"
    return Case("bad api key", "POST" if path.endswith("completions") else "GET", path, surface,
                _json({"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "x"}]}), {"Authorization": header},
                auth=False)


def bad_requests(rng: random.Random) -> Case:
    kind = rng.randrange(7)
    if kind == 0:  # no key at all
        path = _pick(rng, ["/v1/models", "/v1/chat/completions", "/v1/videos", "/v1beta/models",
                           f"/v1beta/models/{GEMINI_MODEL}:generateContent", "/v1/images/generations"])
        method = "GET" if path in ("/v1/models", "/v1/videos", "/v1beta/models") else "POST"
        return Case("no api key", method, path, "gemini" if path.startswith("/v1beta") else "openai", b"{}", auth=False)
    if kind == 1:  # wrong method
        path, method = _pick(rng, [("/v1/chat/completions", "GET"), ("/v1/chat/completions", "PUT"),
                                   ("/v1/images/generations", "GET"), ("/v1/models", "POST"), ("/v1/videos", "PATCH"),
                                   ("/v1/videos/video_x/content", "POST"), ("/v1/images/edits", "DELETE")])
        return Case("wrong method", method, path, "openai", b"{}")
    if kind == 2:  # unknown path
        path = _pick(rng, ["/v1/completions", "/v1/embeddings", "/v1/audio/speech", "/v1/chat", "/v1/images",
                           "/v1/videos/x/y/z", "/v1beta/models/x:countTokens", "/v1beta/tunedModels", "/v1/files"])
        return Case("unknown path", "POST", path, "gemini" if path.startswith("/v1beta") else "openai", b"{}")
    if kind == 3:  # broken multipart
        body = _pick(rng, [b"--b\r\nno headers\r\n", b"--b\r\nContent-Disposition: form-data\r\n\r\nx", b"garbage",
                           b"--wrong\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nx\r\n--wrong--\r\n", b""])
        ctype = _pick(rng, ["multipart/form-data; boundary=b", "multipart/form-data", "multipart/form-data; boundary="])
        return Case("broken multipart", "POST", _pick(rng, ["/v1/images/edits", "/v1/videos"]), "openai", body,
                    {"Content-Type": ctype})
    if kind == 4:  # wrong content type
        ctype = _pick(rng, ["text/plain", "application/xml", "application/x-www-form-urlencoded", "image/png", ""])
        body = _pick(rng, [b"model=x&prompt", b"<xml/>", PNG, b"%%%=%%%&&&", b"a=\xff\xfe"])
        return Case("wrong content type", "POST", _openai_post(rng), "openai", body, {"Content-Type": ctype})
    if kind == 5:  # bad query parameters
        query = _pick(rng, ["limit=abc", "limit=0", "limit=101", "limit=-5", "limit=1e9", "order=sideways",
                            "order=", "limit=%00", "limit=9999999999999999999999"])
        return Case("bad query", "GET", f"/v1/videos?{query}", "openai")
    video_id = _pick(rng, ["video_" + "0" * 32, "video_nope", "x", "video_" + "f" * 300, "%2e%2e"])
    path, method = _pick(rng, [(f"/v1/videos/{video_id}", "GET"), (f"/v1/videos/{video_id}/content", "GET"),
                               (f"/v1/videos/{video_id}", "DELETE"), (f"/v1/videos/{video_id}/content?variant=thumbnail", "GET")])
    headers = {"Idempotency-Key": _pick(rng, ["\u00e9", " ", "k" * 300])} if rng.random() < 0.2 else {}
    if headers:
        return Case("bad idempotency key", "POST", "/v1/videos", "openai",
                    _json({"model": VIDEO_MODEL, "prompt": "a kite"}), headers)
    return Case("unknown video", method, path, "openai")


def media_names(rng: random.Random) -> Case:
    name = _pick(rng, ["x.png", "../secret.key", "..%2F..%2Fflow2api.db", "%00.png", "a" * 100 + ".png", "media.key",
                       "AAAAAAAAAAAAAAAAAAAAAAAA.png", "AAAAAAAAAAAAAAAAAAAAAAAA.exe", quote("\U0001f600" * 20) + ".png",
                       "flow2api.db", ".AAAAAAAAAAAAAAAAAAAAAAAA.png.part"])
    return Case("media name", _pick(rng, ["GET", "HEAD"]), f"/media/{name}", "plain", auth=False)


GENERATORS: list[tuple[Generator, int]] = [
    (invalid_json, 14), (wrong_types, 20), (over_limit, 1), (bad_images, 16), (unknown_models, 12), (huge_prompts, 1),
    (unicode_edges, 14), (bad_requests, 16), (media_names, 6),
]


def cases(count: int, seed: int = 8) -> Iterator[Case]:
    """``count`` cases, the generators weighted as in :data:`GENERATORS`, reproducible for a given ``seed``."""
    rng = random.Random(seed)
    population = [gen for gen, weight in GENERATORS for _ in range(weight)]
    for _ in range(count):
        yield _pick(rng, population)(rng)
