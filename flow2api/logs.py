"""Logging set-up: a request id on every record, and a last-line redaction of registered secrets.

Code must never log a secret in the first place; :class:`SecretRedactor` is the
safety net behind that rule, for flow2api's records and every library's
(aiohttp logs the raw line of a request it cannot parse, ``Authorization``
header included). It replaces with ``[redacted]``, in the message and in the
formatted traceback of a record:

* every secret registered with it (the pool registers each account's decrypted
  secrets);
* credentials recognisable by their shape: ``Bearer <token>``,
  ``x-goog-api-key: <key>``, ``?key=`` / ``&key=`` query values, NextAuth
  ``session-token=`` cookies, flow2api API keys (``sk-f2a-…``) and Google
  access tokens (``ya29.…``).
"""

from __future__ import annotations

import contextvars
import logging
import re

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_MIN_SECRET_LEN = 12


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` from the current request's context (``-`` outside requests) and
    ``record.instance``, the ``[server] instance_id`` (which of several instances wrote the line; ``-`` before
    the settings are read)."""

    def __init__(self) -> None:
        super().__init__()
        self.instance = "-"

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.instance = self.instance
        return True


# Group 1 keeps the label, group 2 is the credential; group 3 is a credential recognisable on its own.
_SHAPES = re.compile(
    r"(?i)(bearer\s+|x-goog-api-key:\s*|[?&](?:key|api_key|access_token)=|session-token(?:\.\d+)?=)([^\s'\";&,\\]+)"
    r"|(sk-f2a-[A-Za-z0-9_-]{8,}|ya29\.[A-Za-z0-9._-]{10,})"
)


# Substrings (lower case) without which _SHAPES cannot match: most records skip the regex.
_SHAPE_HINTS = ("bearer", "api-key", "key=", "token=", "sk-f2a-", "ya29.")
_SCAN_ABOVE = 64  # registered secrets; past this many, look them up by prefix instead of one by one


def _mask_shape(match: re.Match[str]) -> str:
    return f"{match[1]}[redacted]" if match[1] is not None else "[redacted]"


class SecretRedactor(logging.Filter):
    """Replaces registered secrets and credential-shaped strings in log records with ``[redacted]``.

    Past 64 registered secrets they are found by their first 12 characters (a
    window scan of the message), so the cost of a record stays flat however
    many accounts the pool holds (≈ 20 µs for 2,000 secrets instead of ≈ 95 µs
    when each is searched for). Tracebacks are formatted and redacted here, into ``exc_text``,
    which formatters use as is.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._by_prefix: dict[str, list[str]] = {}

    def register(self, *values: str | None) -> None:
        """Remember secrets to redact; values shorter than 12 characters are ignored (too common to match)."""
        for value in values:
            if value and len(value) >= _MIN_SECRET_LEN and value not in self._secrets:
                self._secrets.add(value)
                self._by_prefix.setdefault(value[:_MIN_SECRET_LEN], []).append(value)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret and credential-shaped string replaced by ``[redacted]``."""
        if self._secrets and len(text) >= _MIN_SECRET_LEN:
            if len(self._secrets) <= _SCAN_ABOVE:
                found = {secret for secret in self._secrets if secret in text}
            else:
                found = {secret for i in range(len(text) - _MIN_SECRET_LEN + 1)
                         for secret in self._by_prefix.get(text[i:i + _MIN_SECRET_LEN], ()) if secret in text}
            for secret in sorted(found, key=len, reverse=True):
                text = text.replace(secret, "[redacted]")
        lowered = text.lower()
        if any(hint in lowered for hint in _SHAPE_HINTS):
            text = _SHAPES.sub(_mask_shape, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info or record.exc_text:
            # Formatters reuse exc_text; another handler may have filled it in already.
            record.exc_text = self.redact(record.exc_text or _TRACEBACKS.formatException(record.exc_info))
        return True


class StartupOnceFilter(logging.Filter):
    """While start-up lasts, drops a warning whose logger and text were already emitted (issue 19 item 9).

    Start-up builds the providers more than once (demo mode: once to learn the
    emulators, once pointing at them), and each family builds its own
    reCAPTCHA chain, so one missing setting used to warn four times. After
    :func:`end_startup` every record passes again: at run time a repeated
    warning is news (another failed request), not an echo.
    """

    def __init__(self) -> None:
        super().__init__()
        self.active = True
        self._seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.active or record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, record.getMessage())
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


_TRACEBACKS = logging.Formatter()
REDACTOR = SecretRedactor()
STARTUP_ONCE = StartupOnceFilter()


def end_startup() -> None:
    """Stop dropping repeated warnings (called once the server listens)."""
    STARTUP_ONCE.active = False


def register_secrets(*values: str | None) -> None:
    """Register secrets with the process-wide redactor installed by :func:`configure_logging`."""
    REDACTOR.register(*values)


def configure_logging(level: str = "INFO", instance: str | None = None) -> None:
    """Install one stderr handler on the root logger with the instance id, request ids and secret redaction
    (idempotent; a later call changes the level and, when given, the ``instance`` shown)."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if getattr(handler, "_flow2api", False):
            handler.setLevel(level)
            for stamp in handler.filters:
                if isinstance(stamp, RequestIdFilter) and instance:
                    stamp.instance = instance
            return
    handler = logging.StreamHandler()
    handler._flow2api = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(instance)s %(name)s [%(request_id)s] %(message)s"))
    stamp = RequestIdFilter()
    stamp.instance = instance or "-"
    handler.addFilter(stamp)
    handler.addFilter(STARTUP_ONCE)
    handler.addFilter(REDACTOR)
    root.addHandler(handler)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
