"""The HTTP server's socket deadlines: how long a client may take to send a request (issue 18, finding 10).

aiohttp (3.14) bounds only the idle time of a connection (``keepalive_timeout``, counted from the connection's
start and from the end of each response while no request is waiting); it has no deadline for the header lines of a
request nor for its body, so a client that sends one byte every few seconds keeps its socket, and a handler
reading the body, forever. :class:`GuardedAppRunner` is ``web.AppRunner`` with three deadlines
(:class:`SocketTimeouts`, from ``[server]``):

* **idle** — ``keepalive_timeout``: aiohttp's own, between requests (and before the first);
* **headers** — ``header_timeout``: from the first byte of a request to its blank line. Past it the client gets
  ``408 Request Timeout`` (OpenAI error body, ``code: request_timeout``) and the socket is closed, as Node's
  ``headersTimeout`` does; nginx's ``client_header_timeout`` closes the same way;
* **body** — ``body_timeout``: from the end of the headers to the end of the body. Past it, reading the body
  raises :class:`~flow2api.errors.RequestTimeoutError`, so the handler answers 408 in its surface's error shape
  (``pipeline/errors.py``) and the connection is closed after the answer (aiohttp's lingering read stops at it).

Each deadline is one timer handle on the event loop, per connection; a slow client never holds anything else,
so it cannot block the others.
"""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from flow2api.errors import RequestTimeoutError
from flow2api.settings import Settings

HEADER_TIMEOUT_BODY = json.dumps({"error": {
    "message": "The request headers were not received in time.", "type": "invalid_request_error",
    "param": None, "code": "request_timeout"}}).encode()
HEADER_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(HEADER_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + HEADER_TIMEOUT_BODY
)


@dataclass(frozen=True, slots=True)
class SocketTimeouts:
    """Seconds a client may take: ``header`` for a request's header lines, ``body`` for its body, ``keepalive``
    idle between requests. ``[server] header_timeout``, ``body_timeout``, ``keepalive_timeout``."""

    header: float = 10.0
    body: float = 60.0
    keepalive: float = 15.0


def socket_timeouts(settings: Settings) -> SocketTimeouts:
    """The deadlines of ``[server] header_timeout``, ``body_timeout`` and ``keepalive_timeout`` (seconds)."""
    server = settings.server
    return SocketTimeouts(header=server.header_timeout, body=server.body_timeout, keepalive=server.keepalive_timeout)


M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
LARGE_BLOCK = 1024 * 1024


def return_large_blocks() -> bool:
    """Have glibc's malloc serve blocks of 1 MiB and more from their own mappings, given back to the system when
    freed (``mallopt(M_MMAP_THRESHOLD, 1 MiB)``, what ``MALLOC_MMAP_THRESHOLD_=1048576`` sets at start).

    Why: by default glibc raises that threshold (up to 32 MiB) each time such a block is freed, after which
    the 25 MB buffers of a large data-URI request come from the heap arenas, and their pages stay resident
    after the request (peak RSS 585 → 461 MB with ten of them in a row, docs/performance.md "Memory in
    flight"). Returns whether it was set: ``False`` on other C libraries (musl, macOS), where it is not needed
    or not available.
    """
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)) if hasattr(libc, "mallopt") else False
    except OSError:
        return False


class GuardedRequestHandler(RequestHandler):
    """aiohttp's HTTP/1 protocol with the header and body deadlines of :class:`SocketTimeouts`.

    It watches what aiohttp's parser makes of each chunk: bytes that produce no request while no body is
    being received are a request's header lines (the header deadline starts at the first of them); a request
    whose body has not arrived whole starts the body deadline, cancelled by the body's end.
    """

    __slots__ = ("_timeouts", "_header_handle", "_body", "_body_handle")

    def __init__(self, manager: web.Server, *, timeouts: SocketTimeouts, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._timeouts = timeouts
        self._header_handle: Any = None
        self._body: StreamReader | None = None
        self._body_handle: Any = None

    def data_received(self, data: bytes) -> None:
        """Feed aiohttp's parser, then start or stop the deadlines by what it produced."""
        count = self._request_count
        super().data_received(data)
        if self._force_close or self._close or self._upgraded:
            return
        if self._request_count != count:  # one or more requests' headers ended in this chunk
            self._cancel_header()
            _, payload = self._messages[-1] if self._messages else (None, None)
            if isinstance(payload, StreamReader) and not payload.is_eof():
                self._watch_body(payload)
        elif (self._header_handle is None and not self._request_in_progress and not self._messages
              and (self._body is None or self._body.is_eof())):
            self._start_header_deadline()

    def _start_header_deadline(self) -> None:
        loop = self._loop
        deadline = loop.time() + self._timeouts.header
        self._header_handle = loop.call_at(deadline, self._header_expired)
        # aiohttp's idle timer would otherwise close a connection whose headers are on their way.
        self._next_keepalive_close_time = max(self._next_keepalive_close_time, deadline)

    def _header_expired(self) -> None:
        self._header_handle = None
        if self.transport is not None and not self._request_in_progress and not self._messages:
            self.transport.write(HEADER_TIMEOUT_RESPONSE)
        self.force_close()

    def _cancel_header(self) -> None:
        if self._header_handle is not None:
            self._header_handle.cancel()
            self._header_handle = None

    def _watch_body(self, payload: StreamReader) -> None:
        self._cancel_body()
        self._body = payload
        self._body_handle = self._loop.call_later(self._timeouts.body, self._body_expired, payload)
        payload.on_eof(self._cancel_body)

    def _body_expired(self, payload: StreamReader) -> None:
        self._body_handle = None
        if not payload.is_eof():
            payload.set_exception(RequestTimeoutError(
                f"The request body was not received within {self._timeouts.body:g} s."))

    def _cancel_body(self) -> None:
        if self._body_handle is not None:
            self._body_handle.cancel()
            self._body_handle = None

    def connection_lost(self, exc: BaseException | None) -> None:
        """Cancel the deadlines, then aiohttp's own clean-up."""
        self._cancel_header()
        self._cancel_body()
        self._body = None
        super().connection_lost(exc)


class GuardedServer(web.Server):
    """``web.Server`` whose connections are :class:`GuardedRequestHandler` protocols."""

    def __init__(self, *args: Any, timeouts: SocketTimeouts, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeouts = timeouts

    def __call__(self) -> GuardedRequestHandler:
        """The protocol of one accepted connection (``loop.create_server``'s factory)."""
        return GuardedRequestHandler(self, loop=self._loop, timeouts=self.timeouts, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """``web.AppRunner`` serving ``app`` with the deadlines ``timeouts`` (``keepalive_timeout`` included).

    Other keyword arguments are ``web.AppRunner``'s (``access_log``, ``handler_cancellation`` …).
    """

    def __init__(self, app: web.Application, *, timeouts: SocketTimeouts, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=timeouts.keepalive, **kwargs)
        self._timeouts = timeouts

    async def _make_server(self) -> web.Server:
        # aiohttp's own server (app start-up run, handler arguments merged), rebuilt as a GuardedServer.
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler, request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation, loop=plain._loop, timeouts=self._timeouts,
            **plain._kwargs,
        )
