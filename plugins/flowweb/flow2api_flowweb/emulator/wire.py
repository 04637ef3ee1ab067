"""How the emulator writes batchexecute replies and errors (spec §2.6–§2.7).

A reply is ``)]}'``, a blank line, then (length line, JSON line) pairs: the data chunk with
one ``wrb.fr`` entry per RPC, then the usual ``di`` / ``af.httprm`` and ``e`` trailer chunks.
Declared lengths are deliberately one more than the JSON's character count: the spec says real
ones are off by 1–2 and clients must not trust them.

Errors: :class:`RpcError` becomes a ``wrb.fr`` entry with a status array (HTTP 200);
:class:`HttpFailure` a non-200 reply (401 with an ``er`` 401 entry, 400 with an ``xsrf``
challenge, 429, 5xx). Both carry ``detail`` for the ``X-Emulator-Detail`` header and the log:
the wire body never says why, as Google's does not.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
AITK_ERROR = "type.googleapis.com/google.internal.labs.aisandbox.proto.common.v1.PublicAitkError"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def frame(entries: list[list[Any]]) -> str:
    """The reply body for ``entries`` (the data chunk) plus the trailer chunks."""
    chunks = [entries, [["di", 57], ["af.httprm", 56, "-6203957826405226587", 13]]]
    text = ")]}'\n\n"
    for chunk in chunks:
        line = _compact(chunk)
        text += f"{len(line) + 1}\n{line}\n"
    tail = _compact([["e", 4, None, None, len(text)]])
    return text + f"{len(tail) + 1}\n{tail}\n"


def ok_entry(rpcid: str, payload: Any) -> list[Any]:
    """``["wrb.fr", rpcid, "<payload JSON>", null, null, null, "generic"]``."""
    return ["wrb.fr", rpcid, _compact(payload), None, None, None, "generic"]


class RpcError(Exception):
    """An RPC-level error: ``["wrb.fr", rpcid, null, null, null, [code, null, details], "generic"]``.

    ``reasons`` are ErrorInfo strings (``PUBLIC_ERROR_*``), ``aitk`` PublicAitkError ints; a
    bare code (``[3]``) when both are empty.
    """

    def __init__(self, code: int, detail: str, *, reasons: list[str] | None = None, aitk: list[int] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.reasons = reasons or []
        self.aitk = aitk or []

    def entry(self, rpcid: str) -> list[Any]:
        details: list[Any] = []
        if self.reasons:
            details.append([ERROR_INFO, list(self.reasons)])
        for value in self.aitk:
            details.append([AITK_ERROR, [value]])
        status: list[Any] = [self.code, None, details] if details else [self.code]
        return ["wrb.fr", rpcid, None, None, None, status, "generic"]


def bad_args(detail: str) -> RpcError:
    """Malformed arguments: a bare ``[3]`` INVALID_ARGUMENT (spec §2.7)."""
    return RpcError(3, f"invalid argument: {detail}")


def unusual_activity(detail: str) -> RpcError:
    """The reCAPTCHA refusal captured in spec §2.7: code 7 with ``PUBLIC_ERROR_UNUSUAL_ACTIVITY``."""
    return RpcError(7, detail, reasons=["PUBLIC_ERROR_UNUSUAL_ACTIVITY"])


class HttpFailure(Exception):
    """A non-200 batchexecute reply (or page error) with a framed body."""

    def __init__(self, status: int, detail: str, *, entries: list[list[Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.entries = entries
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = frame(self.entries) if self.entries is not None else ")]}'\n"
        return web.Response(status=self.status, text=body, content_type="application/json",
                            headers={**self.headers, "X-Emulator-Detail": self.detail})


def signed_out(detail: str) -> HttpFailure:
    """HTTP 401 with an ``er`` entry carrying 401 (spec §2.5, §2.7)."""
    return HttpFailure(401, detail, entries=[["er", None, None, None, None, 401, "generic"]])


def xsrf_challenge(token: str, detail: str) -> HttpFailure:
    """HTTP 400 with ``["xsrf", "<new at>"]`` (spec §2.5)."""
    return HttpFailure(400, detail, entries=[["xsrf", token]])
